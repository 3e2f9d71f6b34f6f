// Checked CUDA, cuBLAS and NCCL calls, and the choice of this rank's GPU.
//
// Every device call goes through TASKREL_CUDA_CHECK / TASKREL_CUBLAS_CHECK /
// TASKREL_NCCL_CHECK, which turn a failure into a RuntimeError naming the
// call, file:line, the world rank and the library's own error string (as
// TASKREL_MPI_CHECK does for MPI). Kernel launches are followed by
// TASKREL_CUDA_CHECK(cudaGetLastError()). This header is CUDA-runtime only,
// so it compiles with g++ as well as nvcc.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <nccl.h>

namespace taskrel {

[[noreturn]] void throw_cuda_error(cudaError_t code, const char* call, const char* file, int line);
[[noreturn]] void throw_cublas_error(cublasStatus_t code, const char* call, const char* file, int line);
[[noreturn]] void throw_nccl_error(ncclResult_t code, const char* call, const char* file, int line);

// Rank of this process among the processes on its node: the launcher's
// variable (OMPI_COMM_WORLD_LOCAL_RANK, SLURM_LOCALID, ...) when set, else
// MPI_Comm_split_type(shared) over MPI_COMM_WORLD (collective: then every
// rank must get here together), else 0.
int node_local_rank();

// Makes GPU (local rank mod device count) current for this process and
// returns its index; chosen once per process. Throws RuntimeError when no GPU
// is visible.
int select_device_for_local_rank();

// Number of visible CUDA devices; 0 when there is none or no usable driver
// (never throws: used to decide defaults and to skip GPU tests).
int visible_cuda_devices();

}  // namespace taskrel

#define TASKREL_CUDA_CHECK(call)                                                   \
  do {                                                                             \
    cudaError_t taskrel_cuda_status_ = (call);                                     \
    if (taskrel_cuda_status_ != cudaSuccess)                                       \
      ::taskrel::throw_cuda_error(taskrel_cuda_status_, #call, __FILE__, __LINE__); \
  } while (false)

#define TASKREL_CUBLAS_CHECK(call)                                                     \
  do {                                                                                 \
    cublasStatus_t taskrel_cublas_status_ = (call);                                    \
    if (taskrel_cublas_status_ != CUBLAS_STATUS_SUCCESS)                               \
      ::taskrel::throw_cublas_error(taskrel_cublas_status_, #call, __FILE__, __LINE__); \
  } while (false)

#define TASKREL_NCCL_CHECK(call)                                                   \
  do {                                                                             \
    ncclResult_t taskrel_nccl_status_ = (call);                                    \
    if (taskrel_nccl_status_ != ncclSuccess && taskrel_nccl_status_ != ncclInProgress) \
      ::taskrel::throw_nccl_error(taskrel_nccl_status_, #call, __FILE__, __LINE__); \
  } while (false)
