#!/usr/bin/env bash
# Builds taskrel and runs the whole test suite: the Release build and its
# tests, then the address + undefined-behaviour sanitizer build and its tests,
# and 20 s of fuzzing per reader (scripts/fuzz.sh, clang). Installs what it
# needs (apt) on a fresh Debian 12 machine first.
# Usage: scripts/test.sh [--no-sanitize]
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
  local dir=$1 label=$2; shift 2
  cmake -S . -B "$dir" -G Ninja "$@" >/dev/null
  cmake --build "$dir" -j "$jobs" --target "${TARGET:-all}"
  # Two at a time: each test declares the cores it uses (PROCESSORS; the MPI
  # tests and the mpiexec-driven scripts take both), and ctest never runs
  # more than two cores' worth at once.
  ctest --test-dir "$dir" --output-on-failure -j "$jobs" ${label:+-L "$label"}
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
  # binary's commands), the relatedness library's unit tests and every fuzz
  # target on its corpus and regressions, built by the `sanitize_tests`
  # target. The LibTorch-heavy rest (pipeline, matrix, zoo, the torch binary)
  # ran in the Release pass; compiling it again with ASan would double the
  # suite's time.
  TARGET=sanitize_tests run_suite build-sanitize sanitize -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTASKREL_SANITIZE=ON \
    -DTASKREL_CUDA=OFF -DTASKREL_BENCH=OFF
  echo "== Fuzzing the readers (clang, libFuzzer, ASan + UBSan)"
  bash scripts/fuzz.sh "${TASKREL_FUZZ_SECONDS:-20}"
fi
