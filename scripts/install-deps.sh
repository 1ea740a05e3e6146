#!/usr/bin/env bash
# Installs the Debian packages ebm needs, only those that are missing. With --checks, also what
# the checked builds of scripts/check.sh need: clang with its sanitizer and libFuzzer runtimes.
set -euo pipefail

packages=(
  build-essential cmake libopenmpi-dev openmpi-bin
  libeigen3-dev libboost-dev libtbb-dev libgtest-dev libbenchmark-dev zlib1g-dev libcli11-dev libtomlplusplus-dev python3-matplotlib
  pybind11-dev python3-dev python3-numpy python3-pytest
  dataset-fashion-mnist
)
if [ "${1:-}" = "--checks" ]; then
  packages+=(clang libclang-rt-14-dev)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "error: need root or sudo to install ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
