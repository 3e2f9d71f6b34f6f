#!/usr/bin/env bash
# The synthetic toy demo (the main command is scripts/demo.sh): installs what
# it needs, builds taskrel, then runs
# a small job on a generated example zoo: import generated embeddings of
# 2 encoders x 3 datasets into an HDF5 store, inspect it, compute the
# relatedness matrix of every (encoder, reference, target) with
# `taskrel matrix jobs/toy.toml` under mpiexec -n 2, and show one OT
# distance per pair with `taskrel ot` reading the store directly.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "${TASKREL_BUILD_JOBS:-2}" --target taskrel taskrel-torch

taskrel=build/src/cli/taskrel
out=${TASKREL_TOY_OUT:-out/toy}
rm -rf "$out"
mkdir -p "$out/npy"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMP_NUM_THREADS=1

/usr/bin/python3 scripts/make_example_zoo.py "$out/npy"
encoders="strong_encoder weak_encoder"
datasets="reference_task near_task far_task"
for e in $encoders; do
  for d in $datasets; do
    for s in train test; do
      "$taskrel" import --out "$out/store.h5" --encoder "$e" --dataset "$d" --split "$s" \
        --embeddings "$out/npy/${e}_${d}_${s}_x.npy" --labels "$out/npy/${e}_${d}_${s}_y.npy" --quiet
    done
  done
done

echo "== The store ($out/store.h5)"
"$taskrel" inspect "$out/store.h5"

echo
echo "== Relatedness matrix (jobs/toy.toml: every ordered dataset pair under each encoder, 2 MPI ranks)"
mpiexec -n 2 "$taskrel" matrix jobs/toy.toml --store "$out/store.h5" --output "$out/matrix" --restart --quiet
/usr/bin/python3 -c "
import pandas as pd
d = pd.read_csv('$out/matrix/relatedness.csv')
print('relatedness = RW + H + tau * W_d (lower: more transferable)')
print(d.pivot_table(index=['encoder', 'reference'], columns='target', values='relatedness').round(3).to_string(na_rep='-'))"
echo "(every term, diagnostic and option: $out/matrix/relatedness.csv and relatedness.h5)"

echo
echo "== OT distance between the train splits (euclidean cost, Sinkhorn, 2 MPI ranks, read from the store)"
printf '%-16s %-16s %12s %10s %8s\n' encoder target distance iterations seconds
for e in $encoders; do
  for d in $datasets; do
    mpiexec -n 2 "$taskrel" ot --json --quiet \
      --source "$out/store.h5:/$e/reference_task/train" --target "$out/store.h5:/$e/$d/train" \
      | /usr/bin/python3 -c "import json,sys; r=json.load(sys.stdin); print('%-16s %-16s %12.4f %10d %8.2f' % ('$e', '$d', r['cost'], r['iterations'], r['seconds']))"
  done
done
