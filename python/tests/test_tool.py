"""The tool from Python: training through the registry gives the same weights and metrics as
`ebm train` on the same config and seed; callbacks, resume, TOML text, checkpoints, the gradient
checker's report and verdict; bad input raises the exception with the tool's message."""
import os
import subprocess

import numpy as np
import pytest

import ebm


def cli(ebm_cli, *args):
    return subprocess.run([ebm_cli, *args], capture_output=True, text=True)


def train_here_and_by_the_tool(run_config, tmp_path, ebm_cli):
    """ebm.train(run_config) and `ebm train` on the same config: the result and both checkpoints."""
    result = ebm.train(run_config, verbose=False)
    config_file = tmp_path / "run.toml"
    config_file.write_text(ebm.config_text(run_config, set=["output.dir='%s'" % (tmp_path / "cli")]))
    done = cli(ebm_cli, "train", "--config", str(config_file))
    assert done.returncode == 0, done.stderr
    return result, ebm.read_checkpoint(result["checkpoint"]), ebm.read_checkpoint(str(tmp_path / "cli" / "checkpoint.bin"))


def test_training_is_identical_to_the_command_line_tool(run_config, tmp_path, ebm_cli):
    result, ours, theirs = train_here_and_by_the_tool(run_config, tmp_path, ebm_cli)
    assert result["status"] == 0 and [m["epoch"] for m in result["epochs"]] == [1, 2]
    assert ours["scalar"] == "float" and ours["epoch"] == 2 and ours["model_kind"] == "layered_hopfield"
    assert np.array_equal(ours["params"], theirs["params"])  # bit-identical
    ours_csv = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    theirs_csv = (tmp_path / "cli" / "metrics.csv").read_text().splitlines()
    strip = lambda rows: [",".join(r.split(",")[:8] + r.split(",")[9:]) for r in rows]  # all but seconds
    assert strip(ours_csv) == strip(theirs_csv)
    for mine, row in zip(result["epochs"], ours_csv[1:]):
        assert mine["loss"] == pytest.approx(float(row.split(",")[2]), rel=1e-9)


def test_augmented_training_is_identical_to_the_command_line_tool(run_config, tmp_path, ebm_cli):
    plain = ebm.read_checkpoint(ebm.train(run_config, out=str(tmp_path / "plain"), verbose=False)["checkpoint"])
    run_config["data"].update({"augment_shift": 2, "augment_flip": True})
    _, ours, theirs = train_here_and_by_the_tool(run_config, tmp_path, ebm_cli)
    assert np.array_equal(ours["params"], theirs["params"])
    assert not np.array_equal(ours["params"], plain["params"])  # the images did move
    run_config["data"]["image_shape"] = [1, 28, 27]
    with pytest.raises(ebm.InvalidOptions, match=r"data.image_shape = \[1, 28, 27\] has 756 pixels"):
        ebm.train(run_config, verbose=False)


def test_relaxing_a_checkpoint_is_identical_to_ebm_relax(run_config, tmp_path, ebm_cli, small_data):
    run_config["data"]["epochs"] = 1
    result = ebm.train(run_config, verbose=False)
    done = cli(ebm_cli, "relax", "--checkpoint", result["checkpoint"], "--examples", "4", "--out", str(tmp_path / "r"))
    assert done.returncode == 0, done.stderr
    net = ebm.load_model(result["checkpoint"], scalar="double")  # ebm relax runs in double
    assert isinstance(net, ebm.LayeredHopfield) and net.sizes == [784, 16, 10]
    images, labels = ebm.load_idx(str(small_data / "images"), str(small_data / "labels"), scalar="double", size=4)
    free = result["config"]["relax"]["free"]
    s, summary, trace = net.relax(images, options=free, trace=True)
    rows = (tmp_path / "r" / "trace.csv").read_text().splitlines()[1:]
    cpp_free = [r.split(",") for r in rows if r.startswith("free")]
    assert len(cpp_free) == len(trace["energy"])
    np.testing.assert_allclose(trace["energy"], [float(r[4]) for r in cpp_free], rtol=1e-9)
    np.testing.assert_allclose(trace["grad_norm"], [float(r[5]) for r in cpp_free], rtol=1e-8)


def test_a_model_saved_from_python_is_read_by_the_tool(tmp_path, ebm_cli, small_data):
    net = ebm.LayeredHopfieldFloat(sizes=[784, 8, 10], activation="logistic", init_seed=9)
    net.blocks()["b2"][:] = 0.125
    path = str(tmp_path / "saved.bin")
    ebm.save_checkpoint(net, path, epoch=4)
    back = ebm.load_model(path)
    assert isinstance(back, ebm.LayeredHopfieldFloat) and back.activation == "logistic"
    assert np.array_equal(back.params, net.params)
    done = cli(ebm_cli, "inspect", path)
    assert done.returncode == 0 and "epoch 4" in done.stdout and "model_kind layered_hopfield" in done.stdout
    d = str(small_data)
    done = cli(ebm_cli, "relax", "--checkpoint", path, "--examples", "2", "--out", str(tmp_path / "r"),
               "--set", "data.test_images='%s/images'" % d, "--set", "data.test_labels='%s/labels'" % d,
               "--set", "data.train_images='%s/images'" % d, "--set", "data.train_labels='%s/labels'" % d)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "r" / "trace.csv").exists()


def test_callbacks_stop_early_and_resume_continues(run_config, tmp_path):
    run_config["data"]["epochs"] = 3
    calls = {"begin": [], "batches": 0}

    class Watch:
        def on_epoch_begin(self, epoch):
            calls["begin"].append(epoch)

        def on_batch(self, batch, batches, loss, accuracy):
            calls["batches"] += 1

        def on_epoch_end(self, metrics):
            return metrics["epoch"] == 1

    seen = []
    result = ebm.train(run_config, callbacks=[Watch(), lambda m: seen.append(m["validation_accuracy"])], verbose=False)
    assert [m["epoch"] for m in result["epochs"]] == [1] and calls["begin"] == [0]
    assert calls["batches"] == 9 and len(seen) == 1  # 180 training examples in batches of 20
    resumed = ebm.train(run_config, resume=result["checkpoint"], verbose=False)
    assert [m["epoch"] for m in resumed["epochs"]] == [2, 3]
    # the same as an uninterrupted run
    straight = ebm.train(run_config, out=str(tmp_path / "straight"), verbose=False)
    assert np.array_equal(ebm.read_checkpoint(resumed["checkpoint"])["params"],
                          ebm.read_checkpoint(straight["checkpoint"])["params"])


def test_the_gil_is_released_during_training(run_config):
    import math
    import threading
    import time

    # One run long enough that a Python thread ticking every 2 ms gets in at least 5 times, which it
    # cannot while the GIL is held: the epochs are scaled from a first run outside the measurement so that the
    # run lasts about 60 ms on any machine (3 epochs of 2000 images took only 10 ms on an idle one
    # once the optimizer stopped stalling on subnormals).
    run_config["data"].update(epochs=3, train_size=2000, validation_size=0)
    t0 = time.perf_counter()
    ebm.train(run_config, verbose=False)
    per_epoch = (time.perf_counter() - t0) / 3
    run_config["data"]["epochs"] = max(3, math.ceil(0.06 / per_epoch))
    ticks, done = [], threading.Event()

    def other():
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.002)

    thread = threading.Thread(target=other)
    thread.start()
    start = time.perf_counter()
    ebm.train(run_config, verbose=False)
    end = time.perf_counter()
    done.set()
    thread.join()
    assert len([t for t in ticks if start < t < end]) >= 5, end - start


def test_a_callback_error_stops_training(run_config):
    def broken(metrics):
        raise KeyError("from the callback")

    with pytest.raises(KeyError, match="from the callback"):
        ebm.train(run_config, callbacks=broken, verbose=False)


def test_toml_text_and_overrides(run_config, tmp_path):
    text = ebm.config_text(run_config, set=["estimator.kind='chl'"])
    assert "[relax.free]" in text and ebm.config(text)["data"]["seed"] == 7
    result = ebm.train(text, set=["data.epochs=1"], out=str(tmp_path / "chl"), verbose=False)
    assert result["config"]["estimator"]["kind"] == "chl" and len(result["epochs"]) == 1
    assert os.path.exists(tmp_path / "chl" / "config.toml")


def test_bad_input_raises_with_the_tools_message(run_config, tmp_path, ebm_cli):
    bad = dict(run_config, model={"sizes": [784, 16, 10], "gamma": 0.5})
    with pytest.raises(ebm.InvalidOptions) as info:
        ebm.train(bad, verbose=False)
    config_file = tmp_path / "bad.toml"
    config_file.write_text('[model]\nsizes = [784, 16, 10]\ngamma = 0.5\n')
    done = cli(ebm_cli, "train", "--config", str(config_file))
    assert done.returncode == 1
    assert str(info.value) in done.stderr  # the same message (the CLI adds the file's name)
    with pytest.raises(ebm.InvalidOptions, match='estimator.kind = "bptt" does not apply to model.kind = "xie_seung"'):
        ebm.train(dict(run_config, model={"kind": "xie_seung", "sizes": [784, 16, 10]}, estimator={"kind": "bptt"}),
                  verbose=False)
    with pytest.raises(ebm.DataError):
        ebm.train(dict(run_config, data={"dir": str(tmp_path / "nothing")}), verbose=False)
    with pytest.raises(ebm.DataError):
        ebm.read_checkpoint(str(config_file))
    with pytest.raises(TypeError):
        ebm.train(42)


def test_a_numerical_fault_raises_training_fault(run_config):
    run_config["optimizer"] = {"learning_rate": 1e12}
    with pytest.raises(ebm.TrainingFault, match="epoch 1, minibatch"):
        ebm.train(run_config, verbose=False)


def test_gradient_checker_report_and_verdict(small_data, tmp_path):
    d = str(small_data)
    config = {"model": {"sizes": [784, 12, 10], "activation": "tanh", "scalar": "double"},
              "data": {"train_images": d + "/images", "train_labels": d + "/labels",
                       "test_images": d + "/images", "test_labels": d + "/labels"}}
    report = ebm.gradcheck(config, examples=2, out=str(tmp_path / "gc"))
    assert report.passed and report["status"] == 0, report["text"]
    assert report["report"]["verdict"] == "pass" and report["report"]["rows"]
    assert "verdict: pass" in report["text"]
    failing = ebm.gradcheck(config, examples=2, out=str(tmp_path / "gc2"), expect=["ep_symmetric=3:0.1"])
    assert not failing and failing["status"] == 3 and failing["report"]["failures"]
    with pytest.raises(ebm.InvalidOptions, match="hard sigmoid"):
        ebm.gradcheck(dict(config, model={"sizes": [784, 12, 10]}), examples=2, out=str(tmp_path / "gc3"))


def test_gradient_checker_without_a_config_checks_the_default_network_smooth(small_data, tmp_path):
    # As `ebm gradcheck` with nothing given: the defaults' hard sigmoid would be refused, so the
    # default network is checked with the logistic, and the report's first line says so.
    d = str(small_data)
    data = [f"data.{split}_{what}={d}/{what}" for split in ("train", "test") for what in ("images", "labels")]
    report = ebm.gradcheck(set=data, examples=1, out=str(tmp_path / "gc"))
    assert report.passed, report["text"]
    assert report["text"].startswith("gradcheck: no config given, so the default network with "
                                     "model.activation = logistic"), report["text"][:300]
    assert "activation = 'logistic'" in report["text"]
