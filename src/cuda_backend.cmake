# GPU backend build rules (TASKREL_CUDA=ON), included from the top level
# before src/, which then builds with CUDA enabled. The CUDA sources live
# beside the CPU files of the same idea (src/ot/sinkhorn.cu next to
# sinkhorn.cpp); src/CMakeLists.txt adds them to taskrel_ot with the CUDA
# device backend (ot/device_backend_cuda.cpp), while taskrel_ot_host, the
# front's OT library, gets none of this. The NCCL communicator and the
# checked-call helpers (plain C++ on the CUDA runtime) form taskrel_comm_cuda,
# defined here, so taskrel_comm stays CUDA-free too.
#
# Needs nvcc, cuBLAS and NCCL. On the everyday machines the CUDA 13 toolkit at
# /usr/local/cuda carries all three (compile and link only; the GPU tests skip
# themselves); on the GPU machine NCCL is the system libnccl.
if(NOT DEFINED CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
  set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
endif()
# Hopper (H100 / H200) unless the user names others. LibTorch's CMake config
# sets CMAKE_CUDA_ARCHITECTURES to OFF (no -arch: nvcc's old default and PTX
# JIT at start-up), so OFF counts as unset; TASKREL_CUDA_ARCHITECTURES wins.
set(TASKREL_CUDA_ARCHITECTURES "" CACHE STRING "CUDA architectures of the GPU backend (default 90)")
if(TASKREL_CUDA_ARCHITECTURES)
  set(CMAKE_CUDA_ARCHITECTURES ${TASKREL_CUDA_ARCHITECTURES})
elseif(NOT CMAKE_CUDA_ARCHITECTURES OR CMAKE_CUDA_ARCHITECTURES STREQUAL "OFF")
  set(CMAKE_CUDA_ARCHITECTURES 90)
endif()
enable_language(CUDA)
set(CMAKE_CUDA_STANDARD 17)
set(CMAKE_CUDA_STANDARD_REQUIRED ON)
if(CCACHE_PROGRAM)
  set(CMAKE_CUDA_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
endif()
find_package(CUDAToolkit REQUIRED)

# NCCL: the toolkit's copy, else the system's (libnccl-dev).
find_path(NCCL_INCLUDE_DIR nccl.h HINTS ${CUDAToolkit_INCLUDE_DIRS} /usr/include)
find_library(NCCL_LIBRARY nccl HINTS ${CUDAToolkit_LIBRARY_DIR} /usr/lib/x86_64-linux-gnu)
if(NOT NCCL_INCLUDE_DIR OR NOT NCCL_LIBRARY)
  message(FATAL_ERROR "TASKREL_CUDA=ON needs NCCL (nccl.h and libnccl): not found next to CUDA ${CUDAToolkit_VERSION} "
                      "nor in /usr; set NCCL_INCLUDE_DIR and NCCL_LIBRARY")
endif()
add_library(taskrel_nccl INTERFACE)
target_include_directories(taskrel_nccl INTERFACE ${NCCL_INCLUDE_DIR})
target_link_libraries(taskrel_nccl INTERFACE ${NCCL_LIBRARY})
message(STATUS "taskrel: CUDA ${CUDAToolkit_VERSION}, architectures ${CMAKE_CUDA_ARCHITECTURES}, NCCL ${NCCL_LIBRARY}")

add_library(taskrel_comm_cuda STATIC
  ${PROJECT_SOURCE_DIR}/src/comm/cuda_check.cpp
  ${PROJECT_SOURCE_DIR}/src/comm/nccl_communicator.cpp)
target_link_libraries(taskrel_comm_cuda PUBLIC taskrel_comm CUDA::cudart taskrel_nccl)

# GPU benchmark (bench/gpu_sinkhorn_bench.cpp; PyTorch peer in bench/gpu_sinkhorn_torch.py).
if(TASKREL_BENCH)
  add_executable(gpu_sinkhorn_bench ${PROJECT_SOURCE_DIR}/bench/gpu_sinkhorn_bench.cpp)
  target_link_libraries(gpu_sinkhorn_bench PRIVATE taskrel_ot)
endif()
