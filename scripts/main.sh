#!/usr/bin/env bash
# The main job: install what is missing, build, run the example experiment.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
build/examples/relax_hopfield "$@"
