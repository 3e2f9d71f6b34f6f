// Internal to the CUDA backend: the cuBLAS handle and stream of each
// (thread, device), created on first use and reused by every solve.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <vector>

#include "comm/cuda_check.h"

namespace taskrel::ot::gpu {

// cuBLAS handle and stream, one per (thread, device), reused by every solve:
// the label-aware solve runs one small problem per class, many times per fit.
struct DeviceContext {
  cudaStream_t stream = nullptr;
  cublasHandle_t blas = nullptr;
  DeviceContext() {
    // A blocking stream: the uploads and memsets of DeviceArray (legacy
    // default stream) stay ordered before the kernels that read them.
    TASKREL_CUDA_CHECK(cudaStreamCreate(&stream));
    TASKREL_CUBLAS_CHECK(cublasCreate(&blas));
    TASKREL_CUBLAS_CHECK(cublasSetStream(blas, stream));
  }
  ~DeviceContext() {
    if (blas != nullptr) cublasDestroy(blas);
    if (stream != nullptr) cudaStreamDestroy(stream);
  }
  DeviceContext(const DeviceContext&) = delete;
  DeviceContext& operator=(const DeviceContext&) = delete;
};

// Deliberately never destroyed: at exit the CUDA runtime may already be torn
// down, and destroying handles then is unsafe.
inline DeviceContext& device_context() {
  int device = 0;
  TASKREL_CUDA_CHECK(cudaGetDevice(&device));
  static thread_local std::vector<DeviceContext*> contexts;
  if (static_cast<int>(contexts.size()) <= device) contexts.resize(device + 1, nullptr);
  if (contexts[device] == nullptr) contexts[device] = new DeviceContext();
  return *contexts[device];
}

}  // namespace taskrel::ot::gpu
