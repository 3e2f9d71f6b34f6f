#!/usr/bin/env bash
# Start-up time of taskrel's commands, measured with hyperfine, side by side:
# the front `taskrel` (import, inspect, ot, correlate, --help; no LibTorch,
# no CUDA libraries)
# against `taskrel-torch`, which links LibTorch as the single binary did
# before the split (relate, matrix, build-zoo run there), on the same machine
# in the same run. Also the shared libraries each loads (ldd).
#
# Usage: bench/startup_bench.sh [BUILD_DIR]   (default: build)
# Needs hyperfine (scripts/install-deps.sh installs it) and a built tree.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
front=$build/src/cli/taskrel
torch=$build/src/cli/taskrel-torch
for binary in "$front" "$torch"; do
  [ -x "$binary" ] || { echo "startup_bench: $binary is missing (build first: cmake --build $build)" >&2; exit 2; }
done
command -v hyperfine >/dev/null || { echo "startup_bench: hyperfine is not installed (apt install hyperfine)" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A tiny store and score/accuracy tables, so inspect and correlate do real (small) work.
/usr/bin/python3 - "$work" <<'PY'
import sys, numpy as np
d = sys.argv[1]
rng = np.random.default_rng(0)
np.save(f"{d}/x.npy", rng.normal(size=(64, 16)).astype("f4"))
np.save(f"{d}/y.npy", np.arange(64) % 4)
with open(f"{d}/scores.csv", "w") as s, open(f"{d}/acc.csv", "w") as a:
    s.write("encoder,reference,target,status,relatedness\n")
    a.write("encoder,target,accuracy\n")
    for e in range(6):
        for t in ("t1", "t2"):
            s.write(f"e{e},r,{t},ok,{rng.normal():.4f}\n")
            a.write(f"e{e},{t},{rng.uniform():.4f}\n")
PY
"$front" import --out "$work/store.h5" --encoder e --dataset d --split train \
  --embeddings "$work/x.npy" --labels "$work/y.npy" 2>/dev/null

echo "== shared libraries loaded (ldd)"
for binary in "$front" "$torch"; do
  libraries=$(ldd "$binary")  # captured first: grep -q would cut ldd's pipe short under pipefail
  printf '%-16s %4d libraries, LibTorch: %s\n' "$(basename "$binary")" "$(wc -l <<<"$libraries")" \
    "$(grep -q libtorch <<<"$libraries" && echo yes || echo no)"
done
echo
echo "== start-up, wall time (hyperfine; 'taskrel-torch --help' is what every command cost before the split)"
hyperfine --warmup 3 --runs "${RUNS:-20}" -N --style basic --export-markdown "$work/startup.md" \
  -n "taskrel --help" "$front --help" \
  -n "taskrel import" "$front import --out $work/store.h5 --encoder e --dataset d --split test --overwrite -q --embeddings $work/x.npy --labels $work/y.npy" \
  -n "taskrel inspect" "$front inspect $work/store.h5" \
  -n "taskrel ot --device cpu" "$front ot --source $work/x.npy --target $work/x.npy --device cpu" \
  -n "taskrel correlate" "$front correlate --scores $work/scores.csv --accuracy $work/acc.csv --bootstrap 0 --stat pearson" \
  -n "taskrel-torch --help (LibTorch)" "$torch --help" \
  -n "taskrel relate --help (exec to taskrel-torch)" "$front relate --help" >/dev/null
cat "$work/startup.md"
