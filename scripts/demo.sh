#!/usr/bin/env bash
# The README's main command: installs what it needs (apt), builds taskrel, and
# runs the whole pipeline on the bundled Fashion-MNIST zoo
# (scripts/run_pipeline.sh): zoo and fine-tuning (first time only),
# `taskrel matrix jobs/fmnist.toml` under mpiexec -n 2, `taskrel correlate`,
# figures. Usage: scripts/demo.sh [default|small]
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
export CCACHE_BASEDIR=$PWD
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "${TASKREL_BUILD_JOBS:-2}" --target taskrel taskrel-torch
exec bash scripts/run_pipeline.sh "${1:-default}"
