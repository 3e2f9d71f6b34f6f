#include "comm/cuda_check.h"

#include <mpi.h>

#include <cstdlib>
#include <string>

#include "comm/mpi_check.h"
#include "comm/mpi_communicator.h"
#include "core/error.h"

namespace taskrel {

void throw_cuda_error(cudaError_t code, const char* call, const char* file, int line) {
  throw RuntimeError(fmt::format("CUDA call {} failed at {}:{} on rank {}: {} ({})", call, file, line,
                                 world_rank_for_messages(), cudaGetErrorString(code), cudaGetErrorName(code)));
}

void throw_cublas_error(cublasStatus_t code, const char* call, const char* file, int line) {
  throw RuntimeError(fmt::format("cuBLAS call {} failed at {}:{} on rank {}: {}", call, file, line,
                                 world_rank_for_messages(), cublasGetStatusString(code)));
}

void throw_nccl_error(ncclResult_t code, const char* call, const char* file, int line) {
  throw RuntimeError(fmt::format("NCCL call {} failed at {}:{} on rank {}: {}", call, file, line,
                                 world_rank_for_messages(), ncclGetErrorString(code)));
}

int node_local_rank() {
  // The launcher's variable first: no collective call (solves may run on
  // sub-communicators, where a call on MPI_COMM_WORLD would deadlock).
  for (const char* name : {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "MPI_LOCALRANKID", "PMI_LOCAL_RANK"})
    if (const char* value = std::getenv(name)) return std::atoi(value);
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  int world_size = 1;
  if (initialized && !finalized) MPI_Comm_size(MPI_COMM_WORLD, &world_size);
  if (initialized && !finalized && world_size > 1) {
    // Collective over MPI_COMM_WORLD: reached only without a launcher variable.
    MPI_Comm node;
    TASKREL_MPI_CHECK(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node));
    int rank = 0;
    TASKREL_MPI_CHECK(MPI_Comm_rank(node, &rank));
    TASKREL_MPI_CHECK(MPI_Comm_free(&node));
    return rank;
  }
  return 0;
}

int visible_cuda_devices() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  return count;
}

int select_device_for_local_rank() {
  static int selected = -1;  // once per process: the local rank does not change
  if (selected >= 0) {
    TASKREL_CUDA_CHECK(cudaSetDevice(selected));
    return selected;
  }
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess || count == 0)
    throw RuntimeError(fmt::format("--device cuda: no usable CUDA device on rank {} ({})", world_rank_for_messages(),
                                   status != cudaSuccess ? cudaGetErrorString(status) : "no device visible"));
  const int device = node_local_rank() % count;
  TASKREL_CUDA_CHECK(cudaSetDevice(device));
  selected = device;
  return device;
}

}  // namespace taskrel
