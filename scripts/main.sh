#!/usr/bin/env bash
# The main job: install what is missing, build, then train a 784-512-10 network by Equilibrium
# Propagation on Fashion-MNIST (configs/fashion_ep.toml), relax the trained network on a few
# test images to record its convergence traces, and plot the learning curves and traces.
# Extra arguments go to `ebm train` (e.g. --epochs 1, --set data.batch_size=100).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
run=${EBM_RUN_DIR:-runs/fashion_ep}
build/cli/ebm train --config configs/fashion_ep.toml --out "$run" "$@"
build/cli/ebm relax --checkpoint "$run/checkpoint.bin" --examples 16 --out "$run"
build/cli/ebm plot "$run"
echo "Results in $run: metrics.csv, config.toml, checkpoint.bin, trace.csv and the PNG plots."
