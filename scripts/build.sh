#!/usr/bin/env bash
# Configures and builds ebm in build/ (Release by default). Extra arguments go to cmake,
# e.g. scripts/build.sh -DCMAKE_BUILD_TYPE=Debug -DEBM_SANITIZE=ON
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${EBM_BUILD_DIR:-build}
cmake -S . -B "$build_dir" "$@" >/dev/null
cmake --build "$build_dir" --parallel "$(nproc)"
