#!/usr/bin/env bash
# Faults through the tool: each hostile input or numerical fault ends with the right exit status
# (1: bad input, 2: training stopped on a numerical fault) and a message naming the file, field,
# example or step, and a fault leaves the last good checkpoint and metrics.csv byte for byte.
set -euo pipefail
: "${EBM:?set EBM to the ebm binary}"
here=$(cd "$(dirname "$0")" && pwd)
source "$here/small_dataset.sh"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
cd "$dir"

small_dataset data 60 || fail "could not cut a small dataset out of Fashion-MNIST"
cat > run.toml <<TOML
[model]
sizes = [784, 16, 10]
[data]
train_images = "$dir/data/images"
train_labels = "$dir/data/labels"
test_images = "$dir/data/images"
test_labels = "$dir/data/labels"
eval_train_size = 20
batch_size = 20
epochs = 1
[parallel]
threads = 2
chunk = 10
TOML

# expect STATUS PATTERN ARGS…: ebm ARGS… exits with STATUS and says PATTERN on stderr.
expect() {
  local status=$1 pattern=$2 got=0
  shift 2
  "$EBM" "$@" > out.log 2> err.log || got=$?
  [ "$got" -eq "$status" ] || fail "ebm $*: exit $got, expected $status: $(cat err.log)"
  grep -qF -- "$pattern" err.log || fail "ebm $*: expected '$pattern' in: $(cat err.log)"
}

"$EBM" train --config run.toml --out run > train.log || fail "train: $(cat train.log)"
cp run/checkpoint.bin good.bin
cp run/metrics.csv good.csv

# A learning rate that overflows: exit 2, where it happened, the last good checkpoint untouched.
expect 2 "error: training stopped: epoch 2, minibatch " train --config run.toml --out run --resume run/checkpoint.bin --epochs 3 --lr 1e38
grep -qF "the last good checkpoint is run/checkpoint.bin (epoch 1)" err.log || fail "no last-checkpoint note: $(cat err.log)"
cmp good.bin run/checkpoint.bin || fail "the diverged run changed the checkpoint"
cmp good.csv run/metrics.csv || fail "the diverged run changed metrics.csv"
"$EBM" train --config run.toml --out run --resume run/checkpoint.bin --epochs 2 > train.log || fail "resume after the fault: $(cat train.log)"

# Relaxations that miss their tolerance: a warning by default, a fault when asked.
"$EBM" train --config run.toml --out warn --set relax.free.grad_tol=1e-12 --set relax.free.max_steps=2 > warn.log \
  || fail "unconverged, warn: $(cat warn.log)"
grep -q "warning: relaxations missed their grad_tol in 3 free" warn.log || fail "no warning: $(cat warn.log)"
expect 2 "the free relaxation did not converge: it stopped on its step budget (relax.free.max_steps)" train --config run.toml --out failing \
  --set relax.free.grad_tol=1e-12 --set relax.free.max_steps=2 --set relax.on_unconverged=fail

# NaN pixels in a float32 IDX file: refused at load, naming the file, the example and the pixel.
{ printf '\x00\x00\x0d\x03\x00\x00\x00\x03\x00\x00\x00\x1c\x00\x00\x00\x1c'
  head -c $((784 * 4 + 5 * 4)) /dev/zero; printf '\x7f\xc0\x00\x00'; head -c $((784 * 4 * 2 - 6 * 4)) /dev/zero; } > nan-images
printf '\x00\x00\x08\x01\x00\x00\x00\x03\x01\x02\x03' > nan-labels
expect 1 "nan-images: pixel 5 of example 1 is nan" train --config run.toml --out nan \
  --set data.train_images="$dir/nan-images" --set data.train_labels="$dir/nan-labels"

# Hostile files: each an exit 1 naming the file and what is wrong.
printf '[data]\nbatch_size = "\xff\xfe"\n' > bad-utf8.toml
expect 1 "bad-utf8.toml:2:" train --config bad-utf8.toml
expect 1 "is a directory, not a config file" train --config data
head -c 100 good.bin > cut.bin
expect 1 "cut.bin: field 'payload size' says" train --config run.toml --out cut --resume cut.bin
expect 1 "is a directory, not a checkpoint" inspect data
expect 1 "data/labels: expected 3 dimensions" train --config run.toml --out swapped \
  --set data.train_images="$dir/data/labels" --set data.train_labels="$dir/data/images"
expect 1 "run.toml: model.sizes[1] = 100000000 is beyond the limit" train --config run.toml --set 'model.sizes=[784,100000000,10]'
expect 1 "override '#x=1': the key must be section.key" train --config run.toml --set '#x=1'
# Augmentation that does not fit the images: refused before training, naming the field.
expect 1 "data.image_shape = [1, 28, 27] has 756 pixels but the images have 784" train --config run.toml --out aug \
  --set data.augment_shift=2 --set 'data.image_shape=[1,28,27]'
expect 1 "data.augment_shift = 28 must be less than the images' height 28" train --config run.toml --out aug \
  --set data.augment_shift=28
expect 1 "data.image_shape must be [channels, height, width], got 2 entries" train --config run.toml --out aug \
  --set 'data.image_shape=[28,28]'
"$EBM" train --config run.toml --out aug --set data.augment_shift=2 --set data.augment_flip=true > aug.log \
  || fail "augmented training: $(cat aug.log)"
# Heavy-ball momentum in the relaxations: refused where it cannot apply, trains where it does.
expect 1 "relax.free.momentum must be in [0, 1), got 1" train --config run.toml --out mom --set relax.free.momentum=1
expect 1 "relax.nudged.momentum applies to method fixed_point only, not euler" train --config run.toml --out mom \
  --set relax.nudged.method=euler --set relax.nudged.momentum=0.5
"$EBM" train --config run.toml --out mom --set relax.free.momentum=0.6 --set relax.nudged.momentum=0.6 > mom.log \
  || fail "training with momentum: $(cat mom.log)"
echo "faults OK"
