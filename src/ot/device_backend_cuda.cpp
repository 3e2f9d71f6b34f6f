// The CUDA device backend (ot/device_backend.h): the Sinkhorn solve of
// sinkhorn.cu and the NCCL communicator of comm/. Linked into taskrel_ot in a
// CUDA build, never into the front `taskrel`.
#include <memory>

#include "comm/nccl_communicator.h"
#include "core/error.h"
#include "ot/device_backend.h"
#include "ot/sinkhorn.h"

namespace taskrel::ot {

// sinkhorn.cu
SinkhornResult solve_sinkhorn_cuda(Communicator& comm, PointCloudView x_local, const std::vector<double>& a_local,
                                   PointCloudView y, const std::vector<double>& b, const SinkhornOptions& options,
                                   const Potentials* warm_start);
bool cuda_device_visible();

bool device_backend_linked() { return true; }

bool device_visible() { return cuda_device_visible(); }

SinkhornResult solve_sinkhorn_on_device(Communicator& comm, PointCloudView x_local, const std::vector<double>& a_local,
                                        PointCloudView y, const std::vector<double>& b,
                                        const SinkhornOptions& options, const Potentials* warm_start) {
  if (options.precision == Precision::kFloat64)
    throw InputError("--precision float64 is CPU-only: the CUDA backend stores the cost in float32, float16 or "
                     "bfloat16 (--gpu-storage) and computes its exponentials in float32");
  return solve_sinkhorn_cuda(comm, x_local, a_local, y, b, options, warm_start);
}

std::unique_ptr<Communicator> make_device_communicator(Communicator& world) {
  if (world.size() == 1) return nullptr;
  return std::make_unique<NcclCommunicator>(world);
}

}  // namespace taskrel::ot
