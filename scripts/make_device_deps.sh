#!/usr/bin/env bash
# Builds .device-deps/ on the everyday machine: what the GPU machine lacks to
# configure taskrel (LEMON headers and liblemon.a, CLI11, nlohmann-json,
# toml++ headers) with small CMake configs that point into the folder, plus
# prebuilt GPU test and benchmark binaries (TASKREL_NATIVE=OFF) and libfmt as
# a fall-back. Name .device-deps in the device tool's `carry`; gpu_check.sh
# uses it. The folder is kept out of git through .git/info/exclude.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
D=.device-deps
grep -qx "/$D/" .git/info/exclude 2>/dev/null || echo "/$D/" >>.git/info/exclude
rm -rf "$D"
mkdir -p $D/include $D/lib $D/cmake/lemon $D/cmake/CLI11 $D/cmake/nlohmann_json $D/cmake/tomlplusplus $D/prebuilt/lib
cp -r /usr/include/lemon /usr/include/CLI /usr/include/nlohmann /usr/include/toml++ $D/include/
cp /usr/lib/x86_64-linux-gnu/liblemon.a $D/lib/
cat >$D/cmake/lemon/lemonConfig.cmake <<'CFG'
# Carried to the GPU machine (no LEMON there): headers and liblemon.a from the everyday machine.
get_filename_component(_deps "${CMAKE_CURRENT_LIST_DIR}/../.." ABSOLUTE)
set(LEMON_INCLUDE_DIR "${_deps}/include")
set(LEMON_INCLUDE_DIRS "${LEMON_INCLUDE_DIR}")
set(LEMON_LIBRARY "${_deps}/lib/liblemon.a")
set(LEMON_LIBRARIES "${LEMON_LIBRARY}")
CFG
for p in CLI11:CLI11::CLI11 nlohmann_json:nlohmann_json::nlohmann_json tomlplusplus:tomlplusplus::tomlplusplus; do
  name=${p%%:*}; target=${p#*:}
  cat >$D/cmake/$name/${name}Config.cmake <<CFG
# Carried to the GPU machine (header-only; not installed there).
get_filename_component(_deps "\${CMAKE_CURRENT_LIST_DIR}/../.." ABSOLUTE)
if(NOT TARGET $target)
  add_library($target INTERFACE IMPORTED)
  set_target_properties($target PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "\${_deps}/include")
endif()
set(${name}_FOUND TRUE)
CFG
done
if [ "${SKIP_PREBUILT:-0}" != 1 ]; then
  cmake -S . -B build-cuda-portable -DTASKREL_CUDA=ON -DTASKREL_NATIVE=OFF -DTASKREL_TESTS=ON >/dev/null
  cmake --build build-cuda-portable --target test_gpu gpu_sinkhorn_bench -j"${JOBS:-2}" >/dev/null
  cp build-cuda-portable/tests/gpu/test_gpu build-cuda-portable/gpu_sinkhorn_bench $D/prebuilt/
  cp -L /lib/x86_64-linux-gnu/libfmt.so.9 $D/prebuilt/lib/
fi
du -sh $D
