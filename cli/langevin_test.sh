#!/usr/bin/env bash
# Langevin phases through the tool ($EBM): EP under MALA, CHL (Boltzmann learning, several samples
# per chain: the per-chunk path) and early inference under ULA train on a small Fashion-MNIST
# subset; the MALA run is bit-identical on 1 and 2 threads and its epoch line reports the
# acceptance rate; `ebm relax` records the energy's spread over chains and MALA's acceptance in
# trace.csv and `ebm plot` draws them; a Langevin free phase before a deterministic nudged one is
# refused by name.
set -euo pipefail
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

common=(--set "model.sizes=[784,16,10]" --set data.train_size=300 --set data.test_size=100
        --set data.eval_train_size=50 --set data.batch_size=25 --set parallel.chunk=13 --epochs 1)
phases() {  # method temperature
  echo "--set relax.free.method=$1 --set relax.free.dt=0.5 --set relax.free.max_steps=20
        --set relax.free.temperature=$2 --set relax.nudged.method=$1 --set relax.nudged.dt=0.5
        --set relax.nudged.temperature=$2 --set langevin.burn_in=9"
}
accuracy() { awk -F, 'NR == 2 {print $7}' "$1/metrics.csv"; }

# shellcheck disable=SC2046
"$EBM" train "${common[@]}" $(phases mala 0.001) --set parallel.threads=1 --out "$dir/mala1" > "$dir/mala1.log" 2>&1 \
  || fail "EP under MALA: $(cat "$dir/mala1.log")"
grep -q "MALA acceptance 0\.[0-9]*" "$dir/mala1.log" || fail "no acceptance rate in: $(cat "$dir/mala1.log")"
acc=$(accuracy "$dir/mala1")
awk -v a="$acc" 'BEGIN {exit !(a > 0.3)}' || fail "EP under MALA reached only $acc test accuracy"
# shellcheck disable=SC2046
"$EBM" train "${common[@]}" $(phases mala 0.001) --set parallel.threads=2 --out "$dir/mala2" > "$dir/mala2.log" 2>&1 \
  || fail "EP under MALA, 2 threads: $(cat "$dir/mala2.log")"
cmp -s "$dir/mala1/checkpoint.bin" "$dir/mala2/checkpoint.bin" || fail "EP under MALA differs between 1 and 2 threads"

# CHL under ULA averaging 2 chains x 3 samples per example (not one pair of states: per-chunk path).
# shellcheck disable=SC2046
"$EBM" train "${common[@]}" --estimator chl $(phases ula 0.001) --set langevin.chains=2 --set langevin.samples=3 \
  --out "$dir/chl" > "$dir/chl.log" 2>&1 || fail "CHL under ULA: $(cat "$dir/chl.log")"
grep -q "^epoch 1:" "$dir/chl.log" || fail "CHL under ULA: no epoch line: $(cat "$dir/chl.log")"
# Early inference: a deterministic free phase, then ULA steps.
"$EBM" train "${common[@]}" --estimator early_inference --set relax.nudged.method=ula \
  --set relax.nudged.temperature=0.0001 --set langevin.chains=2 --out "$dir/ei" > "$dir/ei.log" 2>&1 \
  || fail "early inference under ULA: $(cat "$dir/ei.log")"
grep -q "^epoch 1:" "$dir/ei.log" || fail "early inference under ULA: no epoch line"

# Traces of Langevin phases: the energy's spread over the chains and MALA's acceptance rate.
# shellcheck disable=SC2046
"$EBM" relax --checkpoint "$dir/mala1/checkpoint.bin" --examples 2 $(phases mala 0.001) --set langevin.chains=4 \
  --out "$dir/relax" > "$dir/relax.log" 2>&1 || fail "relax under MALA: $(cat "$dir/relax.log")"
head -1 "$dir/relax/trace.csv" | grep -q "energy_std,acceptance" || fail "trace.csv lacks the Langevin columns"
awk -F, 'NR > 2 && $NF != "" {found = 1} END {exit !found}' "$dir/relax/trace.csv" || fail "no acceptance recorded"
grep -q "acceptance" "$dir/relax.log" || fail "the relax summary lacks the acceptance: $(cat "$dir/relax.log")"
if python3 -c "import matplotlib" 2>/dev/null; then
  "$EBM" plot "$dir/relax" > "$dir/plot.log" 2>&1 || fail "plot: $(cat "$dir/plot.log")"
  [ -s "$dir/relax/trace.png" ] || fail "plot drew no trace.png"
fi

# A Langevin free phase needs a Langevin nudged phase.
status=0
"$EBM" train "${common[@]}" --set relax.free.method=mala --out "$dir/bad" > "$dir/bad.log" 2>&1 || status=$?
[ "$status" -eq 1 ] || fail "exit $status for a mixed pair: $(cat "$dir/bad.log")"
grep -q "samples its phases when relax.nudged.method is ula or mala" "$dir/bad.log" || fail "$(cat "$dir/bad.log")"
echo "langevin: EP/MALA $acc test accuracy, bit-identical on 1 and 2 threads; CHL/ULA, EI/ULA trained; traces and plot"
