#!/usr/bin/env bash
# Nothing lost: `ebm train` is killed (SIGKILL) again and again at random moments, some of them
# in the middle of writing a checkpoint; after every kill the checkpoint and metrics.csv on disk
# must be readable and consistent (metrics rows 1…k, k the checkpoint's epoch or one more), and
# --resume continued to the end must give a checkpoint byte-identical to an uninterrupted run's
# and the same metrics (the wall-clock column aside), with the training images augmented.
set -euo pipefail
: "${EBM:?set EBM to the ebm binary}"
here=$(cd "$(dirname "$0")" && pwd)
source "$here/small_dataset.sh"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

small_dataset "$dir/data" 100 || fail "could not cut a small dataset out of Fashion-MNIST"
cat > "$dir/run.toml" <<TOML
[model]
sizes = [784, 64, 10]
[data]
train_images = "$dir/data/images"
train_labels = "$dir/data/labels"
test_images = "$dir/data/images"
test_labels = "$dir/data/labels"
train_size = 60
test_size = 20
eval_train_size = 20
batch_size = 20
epochs = ${EBM_KILL_EPOCHS:-40}
# Drawn per (seed, epoch, example): a resumed run must draw what the uninterrupted one drew.
augment_shift = 2
augment_flip = true
[relax.free]
max_steps = 8
[relax.nudged]
max_steps = 4
[optimizer]
method = "adam"
learning_rate = 0.01
[parallel]
threads = 2
chunk = 10
TOML

# The uninterrupted run, timed to spread the kills over a run's length.
mkdir -p "$dir/ref" "$dir/killed"
start=$(date +%s%N)
(cd "$dir/ref" && "$EBM" train --config ../run.toml --out run > train.log) || fail "reference run: $(cat "$dir/ref/train.log")"
run_ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "uninterrupted run: ${run_ms} ms"

# Metrics rows must be epochs 1…k in order, k = the checkpoint's epoch or one more (metrics.csv is
# written just before the checkpoint); both files must read whole.
check_state() {
  local run=$1 what=$2 epoch=0 rows
  if [ -e "$run/checkpoint.bin" ]; then
    "$EBM" inspect "$run/checkpoint.bin" > "$dir/inspect.log" 2>&1 || fail "$what: checkpoint unreadable: $(cat "$dir/inspect.log")"
    epoch=$(sed -n 's/^epoch //p' "$dir/inspect.log")
  fi
  if [ -e "$run/metrics.csv" ]; then
    head -1 "$run/metrics.csv" | grep -q '^epoch,step,loss,' || fail "$what: metrics.csv has no header"
    rows=$(($(wc -l < "$run/metrics.csv") - 1))
    [ "$(tail -n +2 "$run/metrics.csv" | cut -d, -f1 | paste -sd' ')" = "$(seq 1 "$rows" | paste -sd' ')" ] \
      || fail "$what: metrics.csv rows are not epochs 1…$rows: $(cut -d, -f1 "$run/metrics.csv" | paste -sd' ')"
  else
    rows=0
  fi
  [ "$rows" -eq "$epoch" ] || [ "$rows" -eq $((epoch + 1)) ] \
    || fail "$what: metrics.csv has $rows epochs but the checkpoint is at epoch $epoch"
}

kills=0 midwrite=0 attempts=0
# Until a kill lands inside a checkpoint write, keep trying for up to 150 s (not a fixed 60
# attempts: a write is a small window, about 2% of the kills, and 60 attempts missed it about one
# time in three under the sanitizers).
deadline=$(( $(date +%s) + 150 ))
min_kills=${EBM_KILLS:-12}
cd "$dir/killed"
while [ "$kills" -lt "$min_kills" ] || { [ "$midwrite" -eq 0 ] && [ "$(date +%s)" -lt "$deadline" ]; }; do
  attempts=$((attempts + 1))
  resume=()
  [ -e run/checkpoint.bin ] && resume=(--resume run/checkpoint.bin)
  "$EBM" train --config ../run.toml --out run "${resume[@]}" > train.log 2>&1 &
  pid=$!
  # A random moment within a run's length (the later attempts have less left to do: they may finish).
  sleep "$(awk -v r="$RANDOM" -v ms="$run_ms" 'BEGIN { printf "%.3f", (r / 32768) * ms / 1000 }')"
  if kill -9 "$pid" 2>/dev/null; then
    wait "$pid" 2>/dev/null || true
    kills=$((kills + 1))
    ls -a run 2>/dev/null | grep -q '^\.checkpoint\.bin\.tmp\.' && midwrite=$((midwrite + 1))
    check_state run "after kill $kills"
  else
    wait "$pid" || fail "a run that was not killed failed: $(cat train.log)"
    check_state run "after a run that finished"
    rm -rf run  # it finished before the kill: start over so that the next kills land mid-run
  fi
done
echo "killed $kills times ($midwrite in the middle of a checkpoint write) in $attempts attempts"
[ "$midwrite" -gt 0 ] || fail "no kill landed during a checkpoint write in $attempts attempts"

# Resume to the end; the result must be the uninterrupted run's.
resume=()
[ -e run/checkpoint.bin ] && resume=(--resume run/checkpoint.bin)
"$EBM" train --config ../run.toml --out run "${resume[@]}" > train.log 2>&1 || fail "final resume: $(cat train.log)"
check_state run "after the final resume"
ls -a run | grep -q '\.tmp\.' && fail "temporary files left behind: $(ls -a run)"
cmp "$dir/ref/run/checkpoint.bin" run/checkpoint.bin || fail "resumed checkpoint differs from the uninterrupted run's"
cut -d, -f1-8,10- "$dir/ref/run/metrics.csv" > "$dir/ref.csv"
cut -d, -f1-8,10- run/metrics.csv > "$dir/killed.csv"
diff "$dir/ref.csv" "$dir/killed.csv" || fail "resumed metrics differ from the uninterrupted run's"
echo "kill/resume OK: checkpoint byte-identical, metrics identical"
