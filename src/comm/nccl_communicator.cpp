#include "comm/nccl_communicator.h"

#include <unistd.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "comm/cuda_check.h"
#include "core/error.h"

namespace taskrel {

namespace {

ncclRedOp_t to_nccl(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum: return ncclSum;
    case ReduceOp::kMax: return ncclMax;
    case ReduceOp::kMin: return ncclMin;
  }
  TASKREL_ASSERT(false, "unknown reduce op");
  return ncclSum;
}

}  // namespace

NcclCommunicator::NcclCommunicator(Communicator& host, double timeout_seconds)
    : host_(&host), timeout_seconds_(timeout_seconds) {
  initialise(timeout_seconds);
}

NcclCommunicator::NcclCommunicator(std::unique_ptr<Communicator> host, double timeout_seconds)
    : owned_host_(std::move(host)), host_(owned_host_.get()), timeout_seconds_(timeout_seconds) {
  initialise(timeout_seconds);
}

NcclCommunicator::~NcclCommunicator() {
  // No throwing here: a destructor may run while an error unwinds.
  if (comm_ != nullptr) ncclCommDestroy(comm_);
}

void NcclCommunicator::refuse_shared_devices() {
  // Each rank fills its slot of (host id, PCI bus id hash); a sum all-reduce
  // then gives every rank the whole table, so all ranks refuse together.
  char bus_id[64] = {0};
  TASKREL_CUDA_CHECK(cudaDeviceGetPCIBusId(bus_id, sizeof(bus_id), device_));
  char hostname[256] = {0};
  gethostname(hostname, sizeof(hostname) - 1);
  const int ranks = size();
  std::vector<long long> table(2 * static_cast<std::size_t>(ranks), 0);
  // Hashes masked to 62 bits: positive, and a sum with zeros reproduces them.
  const long long mask = (1LL << 62) - 1;
  table[2 * rank()] = static_cast<long long>(std::hash<std::string>{}(hostname)) & mask;
  table[2 * rank() + 1] = static_cast<long long>(std::hash<std::string>{}(bus_id)) & mask;
  host_->all_reduce(table.data(), table.size(), ReduceOp::kSum);
  for (int r = 0; r < ranks; ++r)
    for (int q = r + 1; q < ranks; ++q)
      if (table[2 * r] == table[2 * q] && table[2 * r + 1] == table[2 * q + 1])
        throw RuntimeError(fmt::format(
            "NCCL: ranks {} and {} of this group would share one GPU{}; NCCL needs one GPU per rank: start at most "
            "as many ranks per node as it has GPUs",
            r, q, r == rank() || q == rank() ? fmt::format(" (PCI {})", bus_id) : std::string()));
}

void NcclCommunicator::wait_until_ready(const char* what, double timeout_seconds) {
  const auto start = std::chrono::steady_clock::now();
  ncclResult_t state = ncclInProgress;
  while (true) {
    TASKREL_NCCL_CHECK(ncclCommGetAsyncError(comm_, &state));
    if (state != ncclInProgress) break;
    const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (waited > timeout_seconds) {
      ncclCommAbort(comm_);
      comm_ = nullptr;
      throw RuntimeError(fmt::format("NCCL: {} did not complete within {:.0f} s on rank {} (a rank missing or stuck?)",
                                     what, timeout_seconds, rank()));
    }
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
  if (state != ncclSuccess) {
    ncclCommAbort(comm_);
    comm_ = nullptr;
    throw RuntimeError(fmt::format("NCCL: {} failed on rank {}: {}", what, rank(), ncclGetErrorString(state)));
  }
}

void NcclCommunicator::initialise(double timeout_seconds) {
  device_ = select_device_for_local_rank();
  refuse_shared_devices();
  ncclUniqueId id;
  std::memset(&id, 0, sizeof(id));
  if (rank() == 0) TASKREL_NCCL_CHECK(ncclGetUniqueId(&id));
  host_->broadcast(&id, sizeof(id), 0);
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;
  TASKREL_NCCL_CHECK(ncclCommInitRankConfig(&comm_, size(), id, rank(), &config));
  wait_until_ready("communicator start-up", timeout_seconds);
}

std::unique_ptr<Communicator> NcclCommunicator::split(int color, int key) const {
  return std::make_unique<NcclCommunicator>(host_->split(color, key), timeout_seconds_);
}

void NcclCommunicator::all_reduce_raw(void* data, std::size_t count, ncclDataType_t type, ReduceOp op,
                                      cudaStream_t stream) {
  TASKREL_ASSERT(comm_ != nullptr, "NCCL communicator used after it was aborted");
  if (count == 0) return;
  TASKREL_NCCL_CHECK(ncclAllReduce(data, data, count, type, to_nccl(op), comm_, stream));
  wait_until_ready("all-reduce", timeout_seconds_);
}

void NcclCommunicator::all_reduce_device(double* device_data, std::size_t count, ReduceOp op, cudaStream_t stream) {
  all_reduce_raw(device_data, count, ncclFloat64, op, stream);
}

void NcclCommunicator::all_reduce_device(float* device_data, std::size_t count, ReduceOp op, cudaStream_t stream) {
  all_reduce_raw(device_data, count, ncclFloat32, op, stream);
}

}  // namespace taskrel
