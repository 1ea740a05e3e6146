#!/usr/bin/env bash
# The checked builds CI runs after scripts/test.sh (README, "Reliability"):
#   asan  the test suite built with AddressSanitizer + UndefinedBehaviorSanitizer (-O1), all of it
#         but tests/learning (see below), and every CLI script
#   tsan  the TBB-parallel tests built with ThreadSanitizer
#   fuzz  the libFuzzer targets in fuzz/ (clang), each for EBM_FUZZ_SECONDS (default 30)
# `scripts/check.sh` runs all three; `scripts/check.sh fuzz` (or asan, tsan) only those named.
# Any sanitizer report, test failure, or fuzzer crash, leak, timeout or out-of-memory fails it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --checks
stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(asan tsan fuzz)
jobs=$(nproc)
# Checked builds: -O1 keeps them fast enough to run the suite; -g1 gives line numbers in reports.
# Without -march=native: at -O1 the compiler does not contract a*b + c into the FMAs that Eigen's
# vector code uses, so results would depend on which columns fall in a vector's tail (the chunk size).
flags=(-DCMAKE_BUILD_TYPE=None "-DCMAKE_CXX_FLAGS=-O1 -g1" -DEBM_NATIVE=OFF -DEBM_BUILD_EXAMPLES=OFF
       -DEBM_BUILD_BENCH=OFF)

# Sanitizer reports go to files as well as failing the process: a report inside a command that a
# test expects to fail (a bad config, a killed run) must fail the stage too.
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
sanitizer_reports() {  # fails, printing them, if any report was written
  # An empty log holds no report: a process that the kill test SIGKILLed at random moments died
  # after its runtime created the file and before anything was written (seen once in CI: an empty
  # ubsan.<pid>, every test passing). A report always has content, and halt_on_error makes any
  # report fail its test as well; so empty files are listed, not counted.
  local reports=0
  for f in "$logs"/*; do
    [ -e "$f" ] || continue
    if [ -s "$f" ]; then
      [ "$reports" -eq 0 ] && echo "sanitizer reports:" >&2
      reports=$((reports + 1))
      echo "== $f" >&2
      cat "$f" >&2
    else
      echo "note: empty sanitizer log $(basename "$f") (a process killed before it wrote anything); no report" >&2
    fi
    rm -f "$f"
  done
  [ "$reports" -eq 0 ]
}
stamp() { date +%s; }
summary=()

for stage in "${stages[@]}"; do
  t0=$(stamp)
  case "$stage" in
    asan)
      echo "== asan: AddressSanitizer + UndefinedBehaviorSanitizer, the test suite but tests/learning, and the CLI scripts"
      # clang: it compiles this template-heavy suite with UBSan a third faster than GCC.
      # Without tests/learning: those files check the estimators' numbers against exact gradients,
      # each instantiating its own estimators and relaxations (a minute or more apiece to compile
      # with the sanitizers, over a third of this stage's build), while the estimators' memory
      # use is exercised here anyway, through the tool: the CLI scripts train every built-in model
      # by every rule (cli_registry_matrix, on the plain tool since the examples are not built
      # here) and run gradcheck, all under the sanitizers. The release build (scripts/test.sh)
      # runs tests/learning.
      cmake -S . -B build-asan "${flags[@]}" -DCMAKE_CXX_COMPILER=clang++ -DEBM_SANITIZE=ON \
        "-DEBM_TEST_EXCLUDE=/tests/learning/" > /dev/null
      cmake --build build-asan --parallel "$jobs"
      t1=$(stamp)
      (cd build-asan &&
        ASAN_OPTIONS="log_path=$logs/asan:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1" \
        UBSAN_OPTIONS="log_path=$logs/ubsan:print_stacktrace=1:halt_on_error=1" \
        LSAN_OPTIONS="suppressions=$PWD/../scripts/lsan.supp" \
        ctest --output-on-failure --parallel "$jobs")
      sanitizer_reports
      summary+=("asan: build $((t1 - t0)) s, tests $(($(stamp) - t1)) s")
      ;;
    tsan)
      echo "== tsan: ThreadSanitizer, the parallel tests"
      cmake -S . -B build-tsan "${flags[@]}" -DEBM_TSAN=ON -DEBM_BUILD_CLI=OFF \
        "-DEBM_TEST_FILTER=(determinism|faults|langevin)_test" > /dev/null
      cmake --build build-tsan --parallel "$jobs" --target ebm_tests
      t1=$(stamp)
      TSAN_OPTIONS="log_path=$logs/tsan:halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/scripts/tsan.supp" \
        build-tsan/tests/ebm_tests --gtest_filter='Determinism.*:Faults.*:Langevin.ChainsAreBitIdentical*:ThreadArena.*'
      sanitizer_reports
      summary+=("tsan: build $((t1 - t0)) s, tests $(($(stamp) - t1)) s")
      ;;
    fuzz)
      echo "== fuzz: libFuzzer targets, ${EBM_FUZZ_SECONDS:-30} s each"
      cmake -S . -B build-fuzz "${flags[@]}" -DCMAKE_CXX_COMPILER=clang++ -DEBM_FUZZ=ON -DEBM_BUILD_TESTS=OFF \
        -DEBM_BUILD_CLI=OFF > /dev/null
      cmake --build build-fuzz --parallel "$jobs" --target fuzz_idx fuzz_idx_gzip fuzz_config fuzz_checkpoint
      t1=$(stamp)
      scripts/fuzz.sh "${EBM_FUZZ_SECONDS:-30}"
      summary+=("fuzz: build $((t1 - t0)) s, fuzzing $(($(stamp) - t1)) s")
      ;;
    *) echo "unknown stage '$stage' (asan, tsan, fuzz)" >&2; exit 2 ;;
  esac
done
printf '%s\n' "${summary[@]}"
