// The GPU backend as the OT library sees it: what sinkhorn.cpp and the `ot`
// command call when the device is cuda. The OT sources are compiled once and
// archived twice, each time with one implementation of this header (CMake in
// src/CMakeLists.txt and src/cuda_backend.cmake):
//   taskrel_ot       device_backend_cuda.cpp with sinkhorn.cu, cuBLAS and NCCL
//                    in a CUDA build; device_backend_none.cpp otherwise;
//   taskrel_ot_host  device_backend_none.cpp always: the front `taskrel`,
//                    which must start without loading cuBLAS (540 MB) and
//                    NCCL, and hands CUDA work to taskrel-torch.
// So the choice is made at link time, and nothing in the OT code itself
// depends on how the library was configured.
#pragma once

#include <memory>
#include <vector>

#include "comm/communicator.h"
#include "ot/point_cloud.h"

namespace taskrel::ot {

struct SinkhornOptions;
struct SinkhornResult;
struct Potentials;

// True when this executable carries the CUDA backend.
bool device_backend_linked();
// A CUDA device is visible to this process (false without the backend).
bool device_visible();
// The CUDA Sinkhorn solve (sinkhorn.cu); without the backend it throws
// InputError naming how to get one.
SinkhornResult solve_sinkhorn_on_device(Communicator& comm, PointCloudView x_local, const std::vector<double>& a_local,
                                        PointCloudView y, const std::vector<double>& b,
                                        const SinkhornOptions& options, const Potentials* warm_start);
// The communicator for a GPU solve over the ranks of `world`: NCCL on device
// buffers (created once, collectively; it refuses ranks that share a GPU).
// Null without the backend or on one rank: the solve then reduces on the host.
std::unique_ptr<Communicator> make_device_communicator(Communicator& world);

}  // namespace taskrel::ot
