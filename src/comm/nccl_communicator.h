// NCCL communicator: the device transport of taskrel's collectives.
//
// Created once per rank group (collectively over the group's host
// communicator): rank 0 makes the NCCL unique id and broadcasts it over the
// host communicator; every rank initialises its NCCL communicator on the GPU
// it has selected (select_device_for_local_rank) without blocking and polls,
// aborting after `timeout_seconds` so a missing rank cannot hang the job.
// Two ranks of the group on one GPU are refused before NCCL is touched (NCCL
// cannot run them and would hang or fail obscurely).
//
// Host-buffer collectives (the Communicator interface) go to the host
// communicator; all_reduce_device() reduces device buffers in place over
// NCCL on the caller's stream. Like every collective, all ranks call these in
// the same order.
#pragma once

#include <cuda_runtime.h>
#include <nccl.h>

#include <memory>

#include "comm/communicator.h"

namespace taskrel {

class NcclCommunicator final : public Communicator {
 public:
  // Borrows `host` (it must outlive this object).
  explicit NcclCommunicator(Communicator& host, double timeout_seconds = 120.0);
  // Owns `host` (as produced by split()).
  explicit NcclCommunicator(std::unique_ptr<Communicator> host, double timeout_seconds = 120.0);
  ~NcclCommunicator() override;
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  using Communicator::all_reduce;
  int rank() const override { return host_->rank(); }
  int size() const override { return host_->size(); }
  void all_reduce(double* data, std::size_t count, ReduceOp op) override { host_->all_reduce(data, count, op); }
  void all_reduce(float* data, std::size_t count, ReduceOp op) override { host_->all_reduce(data, count, op); }
  void all_reduce(long long* data, std::size_t count, ReduceOp op) override { host_->all_reduce(data, count, op); }
  void broadcast(void* data, std::size_t bytes, int root) override { host_->broadcast(data, bytes, root); }
  void barrier() override { host_->barrier(); }
  // A new NCCL communicator over the split host communicator.
  std::unique_ptr<Communicator> split(int color, int key) const override;
  const MpiCommunicator* mpi_host() const override { return host_->mpi_host(); }

  // In-place all-reduce of device memory, enqueued on `stream`.
  void all_reduce_device(double* device_data, std::size_t count, ReduceOp op, cudaStream_t stream);
  void all_reduce_device(float* device_data, std::size_t count, ReduceOp op, cudaStream_t stream);

  int device() const { return device_; }
  ncclComm_t native() const { return comm_; }
  Communicator& host() { return *host_; }

 private:
  void initialise(double timeout_seconds);
  void refuse_shared_devices();
  // Polls a non-blocking communicator until its last call has been taken.
  void wait_until_ready(const char* what, double timeout_seconds);
  void all_reduce_raw(void* data, std::size_t count, ncclDataType_t type, ReduceOp op, cudaStream_t stream);

  std::unique_ptr<Communicator> owned_host_;
  Communicator* host_;
  ncclComm_t comm_ = nullptr;
  int device_ = -1;
  double timeout_seconds_;
};

}  // namespace taskrel
