#!/usr/bin/env bash
# Determinism through the tool: the same config and seed give the same weights and metrics on 1
# and 2 threads (params_crc32 of `ebm inspect`; the config, which records the thread count, aside)
# and byte-identical checkpoints from two runs with the same flags.
set -euo pipefail
: "${EBM:?set EBM to the ebm binary}"
here=$(cd "$(dirname "$0")" && pwd)
source "$here/small_dataset.sh"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

small_dataset "$dir/data" 120 || fail "could not cut a small dataset out of Fashion-MNIST"
small_run_config "$dir" > "$dir/run.toml"

run() {  # run NAME THREADS
  mkdir -p "$dir/$1"
  (cd "$dir/$1" && "$EBM" train --config ../run.toml --out run --threads "$2" > train.log 2>&1) \
    || fail "$1: $(cat "$dir/$1/train.log")"
  "$EBM" inspect "$dir/$1/run/checkpoint.bin" | grep -v '^checkpoint ' > "$dir/$1.inspect"
  cut -d, -f1-8,10- "$dir/$1/run/metrics.csv" > "$dir/$1.csv"
}
run one 1
run two 2
run again 2
grep -q '^epoch 3$' "$dir/one.inspect" || fail "did not train 3 epochs: $(cat "$dir/one.inspect")"
diff "$dir/one.inspect" "$dir/two.inspect" || fail "1 and 2 threads give different weights"
diff "$dir/one.csv" "$dir/two.csv" || fail "1 and 2 threads give different metrics"
cmp "$dir/two/run/checkpoint.bin" "$dir/again/run/checkpoint.bin" || fail "two runs give different checkpoints"
diff "$dir/two.csv" "$dir/again.csv" || fail "two runs give different metrics"
echo "determinism OK: $(grep params_crc32 "$dir/one.inspect")"
