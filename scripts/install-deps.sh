#!/usr/bin/env bash
# Installs every Debian package taskrel needs to build, test and benchmark.
# Idempotent: packages already present are left alone, so a second run costs
# only the dpkg query. Needs root (or sudo) the first time on a fresh machine.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libopenmpi-dev openmpi-bin
  libhdf5-openmpi-dev hdf5-tools
  libeigen3-dev libtorch-dev libopenblas0-pthread
  libgtest-dev liblemon-dev
  libcli11-dev libtomlplusplus-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libzip-dev libxxhash-dev
  python3-numpy python3-scipy python3-pot python3-h5py python3-pandas
  python3-matplotlib python3-sklearn dataset-fashion-mnist
  python3-torch python3-torchvision python3-tqdm python3-xarray
  slurm-wlm munge hyperfine
  clang libclang-rt-dev libomp-dev
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
