#!/usr/bin/env bash
# The GPU machine's check of the CUDA backend, in one call of the device tool:
# configure with -DTASKREL_CUDA=ON (LEMON, CLI11, nlohmann-json and toml++ come
# from .device-deps/, carried from the everyday machine; LibTorch from python's
# torch), build the GPU tests and benchmark, check that LibTorch's bundled fmt
# does not shadow the system fmt and build taskrel-torch, run the tests on 1 and 2 ranks,
# a compute-sanitizer pass over a few tests, the CUDA Sinkhorn benchmark and the
# PyTorch peer. Logs go to $OUT (the device tool brings them back); the summary
# is printed last.
#
# Prepare on the everyday machine: scripts/make_device_deps.sh; then call the
# device tool with command `bash scripts/gpu_check.sh`, carry [".device-deps"].
#   scripts/gpu_check.sh            # everything
#   SKIP_TORCH=1 scripts/gpu_check.sh   # a rerun: the PyTorch numbers do not change
#   SKIP_CLI=1                          # skip taskrel ot --device cuda/cpu
#   SKIP_RELATE=1                       # skip taskrel relate --device cuda/cpu
# Without a GPU (the everyday machine) it builds, the tests skip themselves and
# the benchmarks say there is nothing to measure.
set -u -o pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OUT=${OUT:-$ROOT/gpu-check-out}
BUILD=${BUILD:-$ROOT/build-gpu}
JOBS=${JOBS:-16}
DEPS=$ROOT/.device-deps
mkdir -p "$OUT"
SUMMARY=$OUT/summary.txt
: >"$SUMMARY"
note() { echo "== $(date +%T) $*" | tee -a "$SUMMARY"; }

note "machine: $(uname -n), $(nproc) cores"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader 2>&1 | tee -a "$SUMMARY"
nvcc --version 2>&1 | tail -1 | tee -a "$SUMMARY"

CONFIG_ARGS=(-DTASKREL_CUDA=ON -DTASKREL_TESTS=ON -DTASKREL_BENCH=ON -DCMAKE_BUILD_TYPE=Release)
if [ -d "$DEPS" ]; then
  CONFIG_ARGS+=(-Dlemon_DIR="$DEPS/cmake/lemon" -DCLI11_DIR="$DEPS/cmake/CLI11"
                -Dnlohmann_json_DIR="$DEPS/cmake/nlohmann_json" -Dtomlplusplus_DIR="$DEPS/cmake/tomlplusplus")
fi
TORCH_PREFIX=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)' 2>/dev/null || true)
[ -n "$TORCH_PREFIX" ] && CONFIG_ARGS+=(-DCMAKE_PREFIX_PATH="$TORCH_PREFIX")
[ ! -f "$BUILD/CMakeCache.txt" ] && command -v ninja >/dev/null && CONFIG_ARGS+=(-G Ninja)

note "configure"
if ! cmake -S . -B "$BUILD" "${CONFIG_ARGS[@]}" >"$OUT/build.log" 2>&1; then
  note "CONFIGURE FAILED"; tail -40 "$OUT/build.log"; BUILD_OK=0
else
  grep "taskrel:" "$OUT/build.log" | tee -a "$SUMMARY"
  note "build test_gpu gpu_sinkhorn_bench (-j$JOBS)"
  if cmake --build "$BUILD" --target test_gpu gpu_sinkhorn_bench -j"$JOBS" >>"$OUT/build.log" 2>&1; then
    BUILD_OK=1
  else
    note "BUILD FAILED"; grep -E "error|Error" "$OUT/build.log" | head -30; BUILD_OK=0
  fi
  # The fmt blocker: LibTorch's bundled fmt must not shadow the system fmt
  # (CMakeLists.txt "fmt"); every compile command is checked, then the
  # LibTorch + spdlog executable is built.
  note "fmt include order (compile_commands.json)"
  FMT_DIR=$(sed -n 's/^TASKREL_FMT_INCLUDE_DIR:PATH=//p' "$BUILD/CMakeCache.txt")
  python3 tests/gpu/check_fmt_include_order.py "$BUILD/compile_commands.json" "$FMT_DIR" "$BUILD/system-fmt" 2>&1 \
    | tail -8 | tee -a "$SUMMARY"
  note "build taskrel taskrel-torch (-j$JOBS)"
  if timeout 300 cmake --build "$BUILD" --target taskrel taskrel-torch -j"$JOBS" >>"$OUT/build.log" 2>&1; then
    TORCH_OK=1
  else
    note "taskrel-torch BUILD FAILED"; grep -E "error" "$OUT/build.log" | head -20 | tee -a "$SUMMARY"; TORCH_OK=0
  fi
fi

TEST=$BUILD/tests/gpu/test_gpu
BENCH=$BUILD/gpu_sinkhorn_bench
# Insurance for a machine where the project does not configure: binaries built
# on the everyday machine (TASKREL_NATIVE=OFF), carried with libfmt.
if [ "$BUILD_OK" != 1 ] && [ -x "$DEPS/prebuilt/test_gpu" ]; then
  note "using the prebuilt binaries from .device-deps/prebuilt"
  export LD_LIBRARY_PATH=$DEPS/prebuilt/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
  TEST=$DEPS/prebuilt/test_gpu
  BENCH=$DEPS/prebuilt/gpu_sinkhorn_bench
  ldd "$TEST" | grep "not found" | tee -a "$SUMMARY"
  BUILD_OK=1
fi

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-8} OPENBLAS_NUM_THREADS=1
if [ "$BUILD_OK" = 1 ]; then
  note "GPU tests, 1 rank"
  timeout 240 "$TEST" --gtest_color=no >"$OUT/test_np1.log" 2>&1; echo "exit $?" >>"$OUT/test_np1.log"
  grep -E "^\[ +(OK|FAILED|SKIPPED|PASSED) +\]|seed|info|Failure|error|exit" "$OUT/test_np1.log" | tail -40 | tee -a "$SUMMARY"
  note "GPU tests, mpiexec -n 2 on one GPU"
  OMP_NUM_THREADS=4 timeout 240 mpiexec -n 2 "$TEST" --gtest_color=no >"$OUT/test_np2.log" 2>&1; echo "exit $?" >>"$OUT/test_np2.log"
  grep -E "^\[ +(OK|FAILED|PASSED) +\]|Failure|error|exit" "$OUT/test_np2.log" | tail -20 | tee -a "$SUMMARY"
  if command -v compute-sanitizer >/dev/null; then
    note "compute-sanitizer memcheck (stored/online/banded, NCCL, label-aware)"
    timeout 150 compute-sanitizer --tool memcheck --report-api-errors no --error-exitcode 9 "$TEST" \
      --gtest_filter='GpuSinkhorn.StoredOnline*:GpuNccl.AllReduces*:GpuSinkhorn.LabelAware*' >"$OUT/sanitizer.log" 2>&1
    echo "exit $?" >>"$OUT/sanitizer.log"
    grep -E "ERROR SUMMARY|Invalid|exit|PASSED|FAILED" "$OUT/sanitizer.log" | head -10 | tee -a "$SUMMARY"
  fi
  note "CUDA Sinkhorn benchmark"
  mkdir -p /tmp/taskrel-points
  timeout 240 "$BENCH" --points-dir /tmp/taskrel-points --iterations 24 >"$OUT/bench.log" 2>&1
  echo "exit $?" >>"$OUT/bench.log"
  cat "$OUT/bench.log" | tee -a "$SUMMARY"
fi
if [ "${SKIP_TORCH:-0}" != 1 ]; then
  note "PyTorch log-domain Sinkhorn, eager and torch.compile (stored float32 cost)"
  mkdir -p /tmp/taskrel-points
  PYTHONUNBUFFERED=1 timeout 300 python3 bench/gpu_sinkhorn_torch.py /tmp/taskrel-points --iterations 20 \
    >"$OUT/torch.log" 2>&1
  echo "exit $?" >>"$OUT/torch.log"
  grep -v -E "^\s*$|Warning|warn" "$OUT/torch.log" | tail -12 | tee -a "$SUMMARY"
fi
if [ "${SKIP_CLI:-0}" != 1 ] && [ -d "$BUILD" ]; then
  note "taskrel ot --device cuda vs cpu (n = m = 4,000, d = 64)"
  if timeout 200 cmake --build "$BUILD" --target taskrel taskrel-torch -j"$JOBS" >>"$OUT/build.log" 2>&1; then
    python3 -c "
import numpy as np
r = np.random.default_rng(7)
np.save('/tmp/taskrel-points/x.npy', r.normal(size=(4000, 64)).astype(np.float32))
np.save('/tmp/taskrel-points/y.npy', (r.normal(size=(4000, 64)) + 0.5).astype(np.float32))"
    for device in cuda cpu; do
      timeout 120 "$BUILD/src/cli/taskrel" ot --source /tmp/taskrel-points/x.npy --target /tmp/taskrel-points/y.npy \
        --device $device --json >"/tmp/taskrel-points/cli_$device.json" 2>>"$OUT/cli.log"
      cat "/tmp/taskrel-points/cli_$device.json" >>"$OUT/cli.log"
      python3 -c "
import json; d = json.load(open('/tmp/taskrel-points/cli_$device.json'))
print('$device', {k: d.get(k) for k in ('device', 'gpu_storage', 'cost', 'iterations', 'converged', 'seconds_per_iteration')})" \
        2>&1 | tee -a "$SUMMARY"
    done
  else
    note "taskrel did not build (see build.log)"; grep -E "error" "$OUT/build.log" | tail -5
  fi
fi
if [ "${SKIP_RELATE:-0}" != 1 ] && [ "${TORCH_OK:-0}" = 1 ]; then
  # relate on one small triple: cpu (float32, the reference) against cuda with
  # a float32 and a float16 cost; --memory-budget is honoured on both devices
  # (0: online). The fit itself still runs on the CPU (device.fit = cpu).
  note "taskrel relate --device cuda vs cpu (n = 2,000 per task, d = 32, K = 5)"
  RDIR=/tmp/taskrel-relate; mkdir -p "$RDIR"
  python3 -c "
import numpy as np
r = np.random.default_rng(11)
for t, shift in (('ref', 0.0), ('tgt', 0.6)):
    centres = r.normal(size=(5, 32)) * 3 + shift
    for split, n in (('train', 2000), ('test', 1000)):
        y = np.arange(n) % 5; r.shuffle(y)
        np.save(f'$RDIR/{t}_{split}_z.npy', (centres[y] + r.normal(size=(n, 32))).astype(np.float32))
        np.save(f'$RDIR/{t}_{split}_y.npy', y.astype(np.int64))" 2>&1 | tee -a "$SUMMARY"
  rm -f "$RDIR/store.h5"
  for t in ref tgt; do for split in train test; do
    "$BUILD/src/cli/taskrel" import --out "$RDIR/store.h5" --encoder enc --dataset $t --split $split \
      --embeddings "$RDIR/${t}_${split}_z.npy" --labels "$RDIR/${t}_${split}_y.npy" --num-classes 5 >>"$OUT/relate.log" 2>&1
  done; done
  for run in "cpu float32" "cuda float32" "cuda float16" "cuda bfloat16"; do
    set -- $run
    timeout 120 "$BUILD/src/cli/taskrel" relate --store "$RDIR/store.h5" --encoder enc --reference ref --target tgt \
      --device $1 --precision $2 --seed 3 --log-every 0 --json "$RDIR/relate_$1_$2.json" >>"$OUT/relate.log" 2>&1
    echo "relate $1 $2 exit $?" | tee -a "$SUMMARY"
  done
  python3 - "$RDIR" <<'PY' 2>&1 | tee -a "$SUMMARY"
import json, os, sys
d = sys.argv[1]
ref = json.load(open(os.path.join(d, "relate_cpu_float32.json")))
keys = ["relatedness", "reweighted_loss", "label_mismatch", "distribution_mismatch", "tau", "target_loss"]
print("run              " + " ".join(f"{k:>22}" for k in keys) + "  device  seconds")
for run in ("cpu_float32", "cuda_float32", "cuda_float16", "cuda_bfloat16"):
    p = os.path.join(d, f"relate_{run}.json")
    if not os.path.exists(p):
        print(run, "no result"); continue
    r = json.load(open(p))
    print(f"{run:16} " + " ".join(f"{r[k]:22.10g}" for k in keys), r.get("device"), r.get("seconds"))
    if run != "cpu_float32":
        print(" " * 16 + " relative to cpu: " + " ".join(f"{abs(r[k] - ref[k]) / max(abs(ref[k]), 1e-12):.2e}" for k in keys))
PY
fi
note "done"
