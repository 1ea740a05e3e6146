#!/usr/bin/env python3
"""Writes the fuzzers' seed corpora into fuzz/corpus/<target>/: small valid files of each kind
and a few edge cases, in the input format each target expects (see its source). Run it again
after changing a format; the files it writes are committed."""
import gzip
import os
import struct
import sys
import zlib

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(target, name, data):
    d = os.path.join(root, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def idx(dims, data, type_code=0x08):
    return bytes([0, 0, type_code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + data


def floats(values, fmt=">f"):
    return b"".join(struct.pack(fmt, v) for v in values)


def pair(images, labels):
    """The idx target's dataset mode: two bytes giving the image file's length, then both files."""
    return struct.pack(">H", len(images)) + images + labels


images = idx([3, 2, 2], bytes(range(0, 240, 20)))
labels = idx([3], bytes([7, 0, 9]))
float_images = idx([3, 4], floats([0.0, 0.5, 1.0, -1.0] * 3), 0x0D)
double_images = idx([3, 4], floats([0.0, 0.25, 1e3, -2.0] * 3, ">d"), 0x0E)

# idx: plain files (and, through the first two bytes, an image/label pair).
put("idx", "images_u8", pair(images, labels))
put("idx", "images_f32", pair(float_images, labels))
put("idx", "images_f64", pair(double_images, labels))
put("idx", "nan_pixel", pair(idx([3, 1], floats([0.0, float("nan"), 1.0]), 0x0D), labels))
put("idx", "count_mismatch", pair(images, idx([2], bytes([1, 2]))))
put("idx", "label_out_of_range", pair(images, idx([3], bytes([1, 10, 2]))))
put("idx", "truncated_data", pair(images[:-3], labels))
put("idx", "huge_dims", idx([0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF], b"\x01"))
put("idx", "five_dims", idx([1, 1, 1, 1, 1], b"\x01"))
put("idx", "empty", b"")

# idx_gzip: mode byte 1 = compress the rest; 0 = the rest is the .gz file as it is.
put("idx_gzip", "compress_images", b"\x0d" + images)
put("idx_gzip", "compress_labels", b"\x01" + labels)
put("idx_gzip", "compress_float", b"\x03" + float_images)
put("idx_gzip", "compress_cut", bytes([0x41 | (32)]) + images)  # cut to half its length
put("idx_gzip", "compress_trailing_junk", b"\x81" + labels)
put("idx_gzip", "raw_gzip_images", b"\x00" + gzip.compress(images, mtime=0))
put("idx_gzip", "raw_gzip_two_members", b"\x00" + gzip.compress(labels[:6], mtime=0) + gzip.compress(labels[6:], mtime=0))
put("idx_gzip", "raw_bomb", b"\x00" + gzip.compress(idx([1 << 20], b"\x00" * (1 << 20)), 9, mtime=0))

# config: TOML text; lines starting with "--set " are overrides.
repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
with open(os.path.join(repo, "configs", "fashion_ep.toml"), "rb") as f:
    put("config", "fashion_ep.toml", f.read())
put("config", "full.toml", b"""[model]
sizes = [784, 32, 16, 10]
activation = "logistic"
init_seed = 7
init_gain = 0.5
scalar = "double"
[data]
dir = "/tmp/fm"
train_size = 500
validation_size = 50
batch_size = 20
epochs = 3
seed = 99
[relax]
on_unconverged = "fail"
[relax.free]
method = "rk4"
dt = 0.25
max_steps = 300
grad_tol = 1e-6
[relax.nudged]
method = "dopri5"
abs_tol = 1e-9
rel_tol = 1e-9
on_divergence = "stop"
[estimator]
kind = "ep"
variant = "symmetric"
beta = 0.2
cost = "cross_entropy"
[optimizer]
method = "adam"
learning_rate = 0.001
learning_rates = [0.01, 0.005, 0.001]
[parallel]
threads = 2
chunk = 8
[output]
dir = "out"
checkpoint = false
""")
put("config", "overrides.toml", b"[data]\nepochs = 2\n--set model.sizes=[784, 8, 10]\n--set relax.free.method=euler\n--set output.dir=a b\n")
put("config", "early_inference.toml", b"[estimator]\nkind = \"early_inference\"\ndt = 0.25\nsteps = 4\n[optimizer]\nmomentum = 0.5\n")
put("config", "nan.toml", b"[relax.free]\ndt = nan\n")
put("config", "bad_utf8.toml", b"[data]\ndir = \"\xff\xfe\"\n")
put("config", "empty.toml", b"")


# checkpoint: mode byte 0 = the rest is the file; 1 = the rest is a payload given a valid header.
def string(b):
    return struct.pack("<Q", len(b)) + b


def payload(sizes=(4, 3, 2), activation=b"tanh", adam=True, epoch=3, step=42):
    n = sum(sizes[k] * (sizes[k - 1] + 1) for k in range(1, len(sizes)))
    params = [(i % 7) / 7.0 - 0.5 for i in range(n)]
    vec = struct.pack("<Q", n) + floats(params, "<f")
    if adam:
        optimizer = struct.pack("<Bq", 1, step) + vec + vec
    else:
        optimizer = struct.pack("<Bq", 0, step) + struct.pack("<Q", 0) + struct.pack("<Q", 0)
    return (struct.pack("<BI", 4, len(sizes)) + b"".join(struct.pack("<q", s) for s in sizes) + string(activation) +
            vec + string(optimizer) + struct.pack("<qqQ", epoch, step, 12345) + string(b"[model]\nsizes = [4, 3, 2]\n"))


def checkpoint(p):
    return b"EBMCKPT\n" + struct.pack("<IQI", 1, len(p), zlib.crc32(p)) + p


put("checkpoint", "file_adam", b"\x00" + checkpoint(payload()))
put("checkpoint", "file_sgd", b"\x00" + checkpoint(payload(adam=False, activation=b"hard_sigmoid")))
put("checkpoint", "payload_adam", b"\x01" + payload())
put("checkpoint", "payload_deep", b"\x01" + payload(sizes=(2, 3, 3, 2), activation=b"logistic", adam=False))
put("checkpoint", "bad_crc", b"\x00" + checkpoint(payload())[:-1] + b"\x00")
put("checkpoint", "truncated", b"\x00" + checkpoint(payload())[:40])
put("checkpoint", "header_only", b"\x00" + checkpoint(b""))
print("corpora written to", root, file=sys.stderr)
