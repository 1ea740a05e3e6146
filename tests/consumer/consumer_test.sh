#!/usr/bin/env bash
# ctest package_consumer: installs the package from the build directory $1 into a temporary
# prefix, configures tests/consumer against it with find_package(ebm $2 CONFIG REQUIRED), builds
# and runs it.
set -euo pipefail
build=$1 version=$2
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$dir/prefix" > "$dir/install.log" || fail "install: $(cat "$dir/install.log")"
[ -f "$dir/prefix/include/ebm/models/layered_hopfield.hpp" ] || fail "no headers installed"
config=$(find "$dir/prefix" -name ebmConfig.cmake)
[ -n "$config" ] || fail "no ebmConfig.cmake installed"
grep -q "set(PACKAGE_VERSION \"$version\")" "$(dirname "$config")/ebmConfigVersion.cmake" || fail "version is not $version"
[ ! -e "$dir/prefix/include/ebm/cli" ] || fail "the tool's headers were installed"

cmake -S "$here" -B "$dir/build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$dir/prefix" \
  > "$dir/configure.log" 2>&1 || fail "configure: $(cat "$dir/configure.log")"
# A version the package is not is refused.
if cmake -S "$here" -B "$dir/build-v" -DCMAKE_PREFIX_PATH="$dir/prefix" -DEBM_WANTED_VERSION=99 > /dev/null 2>&1; then
  fail "find_package(ebm 99) accepted version $version"
fi
cmake --build "$dir/build" > "$dir/build.log" 2>&1 || fail "build: $(cat "$dir/build.log")"
out=$("$dir/build/relax_small") || fail "relax_small: $out"
echo "$out"
grep -q "^rk4: converged" <<< "$out" || fail "unexpected output: $out"
echo "package_consumer: ok (headers, ebmConfig.cmake $version, a consumer built and run)"
