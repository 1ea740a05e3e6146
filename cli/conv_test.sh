#!/usr/bin/env bash
# The convolutional Hopfield network through the tool ($EBM): `ebm gradcheck` on a small conv net
# (tanh, double, average pooling) passes its verdict (exit 0); max pooling is checked by the unit
# tests on random inputs (on images, flat backgrounds tie the deeper pools' windows exactly, where
# the energy is not C² and gradcheck's tight relaxations stall); one tiny epoch of
# configs/fashion_conv.toml's network trains, relaxes and inspects; a bad conv option is rejected
# naming the field.
set -u
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)
small=(--set model.kind=conv_hopfield --set model.channels=[3,4] --set model.kernels=[5,3]
       --set model.paddings=[2,1] --set model.pools=[4,2] --set model.dense=[10]
       --set model.activation=tanh --set model.scalar=double)

for pooling in average; do
  # One example: every check of the verdict is per layer and per entry, and the batch's sum is
  # tested by the dense gradcheck and the unit tests; two took 115 s under the sanitizers, one 56.
  "$EBM" gradcheck "${small[@]}" --set model.pooling=$pooling --examples 1 --out "$dir/gc_$pooling" \
    > "$dir/gc_$pooling.log" 2>&1
  status=$?
  [ $status -eq 0 ] || fail "gradcheck ($pooling pooling) exit $status: $(tail -30 "$dir/gc_$pooling.log")"
  python3 - "$dir/gc_$pooling/gradcheck.json" <<'PY' || fail "gradcheck.json ($pooling)"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["verdict"] == "pass", d["failures"]
PY
done

"$EBM" train --config "$here/../configs/fashion_conv.toml" --set model.channels=[4,8] --set data.train_size=100 \
  --set data.test_size=50 --set data.eval_train_size=20 --set data.epochs=1 --set parallel.threads=2 \
  --out "$dir/run" > "$dir/train.log" 2>&1 || fail "train: $(cat "$dir/train.log")"
grep -q "^epoch 1:" "$dir/train.log" || fail "no epoch line: $(cat "$dir/train.log")"
"$EBM" relax --checkpoint "$dir/run/checkpoint.bin" --config "$dir/run/config.toml" --examples 4 --out "$dir/relax" \
  > "$dir/relax.log" 2>&1 || fail "relax: $(cat "$dir/relax.log")"
"$EBM" inspect "$dir/run/checkpoint.bin" > "$dir/inspect.log" 2>&1 || fail "inspect: $(cat "$dir/inspect.log")"
grep -q conv_hopfield "$dir/inspect.log" || fail "inspect does not name the kind: $(cat "$dir/inspect.log")"

if "$EBM" train --set model.kind=conv_hopfield --set model.kernels=[5] --out "$dir/bad" 2> "$dir/bad.log"; then
  fail "bad conv option accepted"
fi
grep -q "model.kernels" "$dir/bad.log" || fail "the message does not name model.kernels: $(cat "$dir/bad.log")"
echo "conv_hopfield through the tool: ok"
