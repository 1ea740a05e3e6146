#!/usr/bin/env bash
# Install what is missing, build, run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh "$@"
cd "${EBM_BUILD_DIR:-build}"
ctest --output-on-failure --parallel "$(nproc)"
