#!/usr/bin/env bash
# Runs each libFuzzer target in build-fuzz/ for SECONDS (default 45), two at a time, starting
# from the committed seeds in fuzz/corpus/<target>/ (new inputs go to build-fuzz/corpus/, so the
# repository's corpus is only read). Fails on any crash, sanitizer report, leak, timeout (an input
# taking over 10 s) or out-of-memory (over 2 GiB), leaving the input in build-fuzz/artifacts/.
# Prints each target's executions.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-45}
targets=(idx idx_gzip config checkpoint)
mkdir -p build-fuzz/artifacts
run_one() {
  local t=$1
  mkdir -p "build-fuzz/corpus/$t"
  "build-fuzz/fuzz/fuzz_$t" "build-fuzz/corpus/$t" "fuzz/corpus/$t" -max_total_time="$seconds" -max_len=8192 \
    -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 -artifact_prefix="build-fuzz/artifacts/$t-" \
    > "build-fuzz/$t.log" 2>&1
}
status=0
pids=()
for t in "${targets[@]}"; do
  run_one "$t" &
  pids+=($!)
  if [ ${#pids[@]} -ge "$(nproc)" ]; then
    wait "${pids[0]}" || status=1
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do wait "$p" || status=1; done
for t in "${targets[@]}"; do
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "build-fuzz/$t.log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "build-fuzz/$t.log" | tail -1 || true)
  echo "fuzz_$t: ${execs:-?} executions in ${seconds} s, ${cov:-cov: ?}, corpus $(ls "build-fuzz/corpus/$t" | wc -l) + $(ls "fuzz/corpus/$t" | wc -l) seeds"
  if grep -qE '^==[0-9]+==ERROR|^SUMMARY: |deadly signal|ERROR: libFuzzer' "build-fuzz/$t.log"; then
    echo "fuzz_$t FAILED:" >&2
    grep -E -A40 '^==[0-9]+==ERROR|ERROR: libFuzzer|deadly signal' "build-fuzz/$t.log" | head -80 >&2
    status=1
  fi
done
exit $status
