// The device backend of an executable without CUDA (ot/device_backend.h): a
// CPU-only build, or the front `taskrel`, which hands every CUDA run to
// taskrel-torch before it gets here (cli/main_front.cpp).
#include "core/error.h"
#include "ot/device_backend.h"
#include "ot/sinkhorn.h"

namespace taskrel::ot {

bool device_backend_linked() { return false; }

bool device_visible() { return false; }

SinkhornResult solve_sinkhorn_on_device(Communicator&, PointCloudView, const std::vector<double>&, PointCloudView,
                                        const std::vector<double>&, const SinkhornOptions&, const Potentials*) {
  throw InputError("--device cuda: this taskrel was built without the CUDA backend (configure with -DTASKREL_CUDA=ON)");
}

std::unique_ptr<Communicator> make_device_communicator(Communicator&) { return nullptr; }

}  // namespace taskrel::ot
