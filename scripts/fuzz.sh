#!/usr/bin/env bash
# Fuzzes taskrel's readers (tests/fuzz): builds the libFuzzer targets with
# clang + ASan + UBSan in build-fuzz/, then runs each for a fixed budget from
# its committed seed corpus, two at a time. An input that crashes, hangs
# (-timeout) or allocates past the RSS limit is saved to
# tests/fuzz/regressions/<target>/ -- commit it once fixed: ctest replays it
# from then on -- and the script exits 1. Prints executions per target.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]     (default 30)
#
# TASKREL_FUZZ_BUILD names the build folder (default build-fuzz), and
# TASKREL_FUZZ_SEED libFuzzer's seed (default 1, so CI explores the same
# inputs every time; any other value explores others).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
jobs=${TASKREL_BUILD_JOBS:-2}
build=${TASKREL_FUZZ_BUILD:-build-fuzz}
seed=${TASKREL_FUZZ_SEED:-1}
export CCACHE_BASEDIR=$PWD

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
  -DCMAKE_CXX_COMPILER=clang++ -DTASKREL_FUZZ=ON -DTASKREL_CUDA=OFF -DTASKREL_BENCH=OFF >/dev/null
cmake --build "$build" -j "$jobs" --target fuzz_targets

targets=(npy npz idx csv store job_spec)
work=$build/fuzz-runs
rm -rf "$work"
mkdir -p "$work"
touch "$work/started"  # what a run saves to regressions/ is newer
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

run_one() {
  local name=$1
  local corpus=$work/$name-corpus regressions=tests/fuzz/regressions/$name
  mkdir -p "$corpus" "$regressions"
  # New inputs go to the scratch corpus; the committed seeds are read only.
  "$build/tests/fuzz/fuzz_$name" "$corpus" "tests/fuzz/corpus/$name" \
    -max_total_time="$seconds" -seed="$seed" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
    -artifact_prefix="$regressions/" -print_final_stats=1 >"$work/$name.log" 2>&1
}

pids=()
status=0
for name in "${targets[@]}"; do
  run_one "$name" &
  pids+=($!)
  if [ ${#pids[@]} -ge "$jobs" ]; then
    wait "${pids[0]}" || status=1
    pids=("${pids[@]:1}")
  fi
done
for pid in "${pids[@]}"; do wait "$pid" || status=1; done

echo "== fuzzing: $seconds s per target, seed $seed"
printf '%-10s %12s %10s %s\n' target executions corpus findings
for name in "${targets[@]}"; do
  log=$work/$name.log
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  size=$(find "$work/$name-corpus" -type f | wc -l)
  found=$(find "tests/fuzz/regressions/$name" -type f -newer "$work/started" 2>/dev/null | wc -l)
  printf '%-10s %12s %10s %s\n' "$name" "${runs:-?}" "$size" "$found"
  if [ "$found" -gt 0 ]; then
    echo "fuzz_$name found $found input(s) in tests/fuzz/regressions/$name; its log:" >&2
    grep -E "ERROR|SUMMARY|terminate|what\(\)" "$log" | head -20 >&2 || true
  fi
done
[ -d tests/fuzz/regressions ] && find tests/fuzz/regressions -type d -empty -delete
exit $status
