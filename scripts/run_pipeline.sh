#!/usr/bin/env bash
# The bundled pipeline on Fashion-MNIST, with an already built taskrel:
#   1. taskrel build-zoo      encoders trained with LibTorch, their embeddings of
#                             every task in an HDF5 store, and the accuracy after
#                             end-to-end fine-tuning (cached: first time only)
#   2. taskrel matrix         relatedness + baselines of every triple, mpiexec -n 2
#   3. taskrel correlate      correlation of each score with fine-tuned accuracy
#   4. analysis/figures.py    PNG figures
# Usage: scripts/run_pipeline.sh [default|small]
#   default: jobs/fmnist.toml into out/fmnist (the README's main command)
#   small:   jobs/fmnist-small.toml into out/fmnist-small (CI)
# Environment: TASKREL_BINARY (build/src/cli/taskrel), TASKREL_RANKS (2),
# TASKREL_PIPELINE_OUT (overrides the output directory; the job's store and
# output are redirected there).
set -euo pipefail
cd "$(dirname "$0")/.."

preset=${1:-default}
case "$preset" in
  default) job=jobs/fmnist.toml; out=out/fmnist ;;
  small) job=jobs/fmnist-small.toml; out=out/fmnist-small ;;
  *) echo "run_pipeline.sh: unknown preset '$preset' (expected default or small)" >&2; exit 2 ;;
esac
out=${TASKREL_PIPELINE_OUT:-$out}
taskrel=${TASKREL_BINARY:-build/src/cli/taskrel}
ranks=${TASKREL_RANKS:-2}
python=/usr/bin/python3
[ -x "$taskrel" ] || { echo "run_pipeline.sh: no taskrel binary at $taskrel (build it first)" >&2; exit 2; }

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none

stage_names=()
stage_seconds=()
stage() {  # stage NAME COMMAND...: runs and times one stage
  local name=$1; shift
  echo
  echo "== $name"
  local start=$SECONDS
  "$@"
  stage_names+=("$name")
  stage_seconds+=($((SECONDS - start)))
}

stage "zoo: encoders, embeddings, fine-tuning ($out)" \
  "$taskrel" build-zoo --out "$out" --preset "$preset"
# One LibTorch thread per rank: the ranks already fill the cores.
stage "relatedness matrix ($job, $ranks MPI ranks)" \
  env OMP_NUM_THREADS=1 mpiexec -n "$ranks" "$taskrel" matrix "$job" --store "$out/store.h5" --output "$out/matrix" --quiet
correlate() {  # Pearson r and relative top-1 (every statistic: correlation.json); kept for the end
  "$taskrel" correlate --scores "$out/matrix/relatedness.csv" --accuracy "$out/finetune.csv" \
    --output "$out/correlation.json" --stat pearson | tee "$out/correlation.txt"
  "$taskrel" correlate --scores "$out/matrix/relatedness.csv" --accuracy "$out/finetune.csv" \
    --stat relative_top1 --bootstrap 0 | tee -a "$out/correlation.txt"
}
stage "correlation with fine-tuned accuracy" correlate
stage "figures" \
  "$python" analysis/figures.py --scores "$out/matrix/relatedness.csv" --accuracy "$out/finetune.csv" \
  --matrix "$out/matrix/relatedness.h5" --out "$out/figures"

echo
echo "== Wall time per stage"
for i in "${!stage_names[@]}"; do printf '  %5d s  %s\n' "${stage_seconds[$i]}" "${stage_names[$i]}"; done
echo
echo "== Correlation of each score with the accuracy after fine-tuning ($out/correlation.txt)"
cat "$out/correlation.txt"
echo
echo "Results:  $out/matrix/relatedness.csv (every term, diagnostic and baseline per triple)"
echo "          $out/finetune.csv (accuracy after end-to-end fine-tuning)"
echo "          $out/correlation.json (every statistic with bootstrap intervals)"
echo "Figures:  $out/figures/"
