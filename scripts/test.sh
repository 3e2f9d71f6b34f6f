#!/usr/bin/env bash
# Builds taskrel and runs the whole test suite: the Release build, then the
# address + undefined-behaviour sanitizer build. Installs what it needs (apt)
# on a fresh Debian 12 machine first. Usage: scripts/test.sh [--no-sanitize]
set -euo pipefail
cd "$(dirname "$0")/.."

sanitize=1
[ "${1:-}" = "--no-sanitize" ] && sanitize=0

bash scripts/install-deps.sh
# ccache keys on relative paths below the checkout, so a fresh clone in
# another folder (as CI makes) still hits the cache for the -g build too.
export CCACHE_BASEDIR=$PWD
jobs=${TASKREL_BUILD_JOBS:-2}

run_suite() {
  local dir=$1 ctest_args=$2; shift 2
  cmake -S . -B "$dir" -G Ninja "$@" >/dev/null
  cmake --build "$dir" -j "$jobs"
  # One ctest job at a time: the MPI tests already use both cores.
  ctest --test-dir "$dir" --output-on-failure $ctest_args
}

# The CUDA backend compiles and links wherever the CUDA toolkit is installed
# (no GPU needed); its GPU tests then skip themselves, saying so.
cuda=OFF
[ -x /usr/local/cuda/bin/nvcc ] && cuda=ON

echo "== Release build and tests (CUDA backend: $cuda)"
run_suite build "" -DCMAKE_BUILD_TYPE=Release -DTASKREL_CUDA=$cuda

if [ "$sanitize" = 1 ]; then
  echo "== AddressSanitizer + UndefinedBehaviorSanitizer build and tests"
  # OpenMPI keeps allocations alive until exit by design: leak reports from it
  # are noise, so leak detection is off; every other ASan/UBSan error fails.
  export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  # Only the tests labelled `sanitize` (tests/CMakeLists.txt): the code
  # without LibTorch (readers, store, OT, baselines, correlate, the front
  # binary's commands) and the relatedness library's unit tests, built by the
  # `sanitize_tests` target. The LibTorch-heavy rest (pipeline, matrix, zoo,
  # the torch binary) ran in the Release pass; compiling it again with ASan
  # would double the suite's time.
  cmake -S . -B build-sanitize -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTASKREL_SANITIZE=ON >/dev/null
  cmake --build build-sanitize -j "$jobs" --target sanitize_tests
  ctest --test-dir build-sanitize --output-on-failure -L sanitize
fi
