#!/usr/bin/env bash
# The README's main command: installs what it needs, builds taskrel, then runs
# the main job on the bundled example zoo. Today that is: import generated
# embeddings of 2 encoders x 3 datasets into an HDF5 store, inspect it, and
# compute the optimal-transport distance between every dataset pair under
# each encoder with the sharded Sinkhorn solver under mpiexec -n 2.
# (The relatedness matrix replaces the last step once `taskrel matrix` lands.)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "${TASKREL_BUILD_JOBS:-2}" --target taskrel

taskrel=build/src/cli/taskrel
out=${TASKREL_DEMO_OUT:-out/demo}
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
echo "== OT distance (euclidean cost, Sinkhorn, 2 MPI ranks) from reference_task to each dataset"
printf '%-16s %-16s %12s %10s %8s\n' encoder target distance iterations seconds
for e in $encoders; do
  for d in $datasets; do
    mpiexec -n 2 "$taskrel" ot --json --quiet \
      --source "$out/npy/${e}_reference_task_train_x.npy" --target "$out/npy/${e}_${d}_train_x.npy" \
      | /usr/bin/python3 -c "import json,sys; r=json.load(sys.stdin); print('%-16s %-16s %12.4f %10d %8.2f' % ('$e', '$d', r['cost'], r['iterations'], r['seconds']))"
  done
done
