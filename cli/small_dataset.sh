# Sourced by the CLI tests: small_dataset DIR N writes the first N Fashion-MNIST test images and
# labels as plain IDX files DIR/images and DIR/labels (a header for N examples, then the data),
# so that a run starts in milliseconds instead of decoding 60 000 images.
small_dataset() {
  local out=$1 n=$2 src=${EBM_FASHION_DIR:-/usr/share/datasets/fashion-mnist}
  local be
  be=$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' $((n >> 24 & 255)) $((n >> 16 & 255)) $((n >> 8 & 255)) $((n & 255)))
  mkdir -p "$out"
  { printf '\x00\x00\x08\x03'; printf "$be"; printf '\x00\x00\x00\x1c\x00\x00\x00\x1c'
    # head closes the pipe early: zcat's SIGPIPE is expected, so pipefail must not see it.
    { zcat "$src/t10k-images-idx3-ubyte.gz" || true; } | tail -c +17 | head -c $((n * 784)); } > "$out/images"
  { printf '\x00\x00\x08\x01'; printf "$be"
    { zcat "$src/t10k-labels-idx1-ubyte.gz" || true; } | tail -c +9 | head -c "$n"; } > "$out/labels"
  [ "$(stat -c %s "$out/images")" -eq $((16 + n * 784)) ] && [ "$(stat -c %s "$out/labels")" -eq $((8 + n)) ]
}

# small_run_config DIR prints a config training a 784-24-10 network for 3 epochs on DIR/data (as
# small_dataset writes it), 100 training, 20 validation and 20 test images, chunks of 3: the run
# the determinism and MPI tests compare across threads and ranks.
small_run_config() {
  local dir=$1
  cat <<TOML
[model]
sizes = [784, 24, 10]
[data]
train_images = "$dir/data/images"
train_labels = "$dir/data/labels"
test_images = "$dir/data/images"
test_labels = "$dir/data/labels"
train_size = 100
test_size = 20
validation_size = 20
eval_train_size = 30
batch_size = 20
epochs = 3
seed = 5
[relax.free]
max_steps = 15
[relax.nudged]
max_steps = 6
[estimator]
variant = "random_sign"
[optimizer]
method = "adam"
learning_rate = 0.01
[parallel]
chunk = 3
TOML
}
