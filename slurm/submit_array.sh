#!/usr/bin/env bash
# Submits a zoo as a job array (one task per encoder, slurm/matrix_array.sbatch)
# plus a collect job that runs when every array task has ended.
#
#   slurm/submit_array.sh JOB.toml [sbatch options for the array, e.g. --ntasks=8]
#
# Prints the two job ids. TASKREL_BINARY (default build/src/cli/taskrel).
set -euo pipefail
job=${1:?usage: submit_array.sh JOB.toml [sbatch options]}
shift
taskrel=${TASKREL_BINARY:-build/src/cli/taskrel}
here=$(dirname "$0")
mapfile -t encoders < <("$taskrel" matrix "$job" --list-encoders -q)
(( ${#encoders[@]} > 0 )) || { echo "submit_array.sh: no encoders in $job" >&2; exit 2; }
mkdir -p logs
array=$(sbatch --parsable --array=0-$((${#encoders[@]} - 1)) "$@" "$here/matrix_array.sbatch" "$job")
collect=$(sbatch --parsable --dependency=afterany:"${array%%;*}" --ntasks=1 --job-name=taskrel-collect \
  --output=logs/%x-%j.out --wrap "$taskrel matrix '$job' --collect")
echo "array job $array (${#encoders[@]} encoders: ${encoders[*]}); collect job $collect"
