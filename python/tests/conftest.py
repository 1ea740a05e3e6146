"""Fixtures of the Python tests: a small IDX data set cut from Fashion-MNIST's test images (so
that a run starts in milliseconds), a small run config, and the ebm command-line tool."""
import gzip
import os
import shutil
import struct

import numpy as np
import pytest

FASHION = os.environ.get("EBM_FASHION_DIR", "/usr/share/datasets/fashion-mnist")


@pytest.fixture(scope="session")
def small_data(tmp_path_factory):
    """DIR with plain IDX files images and labels: the first 300 Fashion-MNIST test images."""
    n = 300
    out = tmp_path_factory.mktemp("data")
    with gzip.open(os.path.join(FASHION, "t10k-images-idx3-ubyte.gz"), "rb") as f:
        f.read(16)
        pixels = f.read(n * 784)
    with gzip.open(os.path.join(FASHION, "t10k-labels-idx1-ubyte.gz"), "rb") as f:
        f.read(8)
        labels = f.read(n)
    (out / "images").write_bytes(struct.pack(">IIII", 0x803, n, 28, 28) + pixels)
    (out / "labels").write_bytes(struct.pack(">II", 0x801, n) + labels)
    return out


@pytest.fixture
def run_config(small_data, tmp_path):
    """A small training config (the one of cli/end_to_end_test.sh, on the small data set)."""
    d = str(small_data)
    return {
        "model": {"sizes": [784, 16, 10], "init_seed": 3},
        "data": {
            "train_images": d + "/images", "train_labels": d + "/labels",
            "test_images": d + "/images", "test_labels": d + "/labels",
            "train_size": 200, "test_size": 100, "validation_size": 20, "eval_train_size": 50,
            "batch_size": 20, "epochs": 2, "seed": 7,
        },
        "relax": {"free": {"max_steps": 20}, "nudged": {"max_steps": 10}},
        "parallel": {"threads": 2, "chunk": 10},
        "output": {"dir": str(tmp_path / "run")},
    }


@pytest.fixture(scope="session")
def ebm_cli():
    path = os.environ.get("EBM_CLI") or shutil.which("ebm")
    if not path:
        binary = os.environ.get("EBM_BINARY_DIR", "build")
        path = os.path.join(binary, "cli", "ebm")
    if not os.path.exists(path):
        pytest.skip("the ebm tool is not built (set EBM_CLI)")
    return path


def finite_difference(f, theta, h=1e-6):
    """Central differences of a scalar function of a vector."""
    g = np.zeros_like(theta)
    for i in range(theta.size):
        e = np.zeros_like(theta)
        e.flat[i] = h
        g.flat[i] = (f(theta + e) - f(theta - e)) / (2 * h)
    return g
