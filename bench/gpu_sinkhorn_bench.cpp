// Per-iteration time of the CUDA Sinkhorn (sinkhorn.cu) on one GPU, for the
// issue's problems: n = m = 20,000 and 50,000 points, d = 512, Euclidean
// cost, epsilon 0.05 x mean cost, with the cost stored in float32, float16
// and bfloat16, in one band (row kernel over all rows, then the column kernel:
// two HBM reads) or in L2-sized bands (the column kernel re-reads from L2);
// and one online problem (cost recomputed every iteration) at 200,000.
//
// It writes the points of each size as raw float32 (n x d, then m x d) so that
// bench/gpu_sinkhorn_torch.py runs the PyTorch peer on the same problem, and
// prints one line per variant: ms per iteration, the bytes an iteration
// reads from the cost (two passes) over that time, and the transport cost.
//
// usage: gpu_sinkhorn_bench [--sizes 20000,50000] [--dim 512] [--iterations 30]
//                           [--online 200000] [--online-iterations 5] [--points-dir DIR]
#include <mpi.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "comm/cuda_check.h"
#include "comm/mpi_communicator.h"
#include "core/error.h"
#include "ot/sinkhorn.h"

namespace {

using namespace taskrel;
using namespace taskrel::ot;

// Two shifted clouds of uniform noise around a few shared centres: cheap to
// draw at 200,000 x 512, and not a degenerate OT problem.
std::vector<float> make_points(std::int64_t rows, std::int64_t dim, std::uint64_t seed, float shift) {
  std::vector<float> centres(16 * dim);
  std::mt19937_64 centre_rng(1234);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (float& c : centres) c = normal(centre_rng);
  std::vector<float> out(static_cast<std::size_t>(rows * dim));
  std::uint64_t state = seed * 0x9E3779B97F4A7C15ull + 1;
  auto next = [&state]() {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return static_cast<float>((state >> 40) * (1.0 / 16777216.0)) - 0.5f;
  };
  for (std::int64_t i = 0; i < rows; ++i) {
    const float* centre = centres.data() + (i % 16) * dim;
    for (std::int64_t k = 0; k < dim; ++k) out[i * dim + k] = centre[k] + 1.5f * next() + shift;
  }
  return out;
}

std::vector<std::int64_t> parse_list(const std::string& text) {
  std::vector<std::int64_t> out;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ','))
    if (!item.empty()) out.push_back(std::stoll(item));
  return out;
}

struct Run {
  double ms_per_iteration;
  SinkhornResult result;
};

Run run(Communicator& comm, const std::vector<float>& x, const std::vector<float>& y, std::int64_t n, std::int64_t m,
        std::int64_t dim, GpuStorage storage, GemmPrecision gemm, std::int64_t band_rows, std::int64_t budget,
        int iterations) {
  SinkhornOptions options;
  options.device = Device::kCuda;
  options.epsilon = 0.05;
  options.tolerance = 1e-300;  // never reached: run exactly `iterations`
  options.max_iterations = iterations;
  options.gpu.storage = storage;
  options.gpu.gemm = gemm;
  options.gpu.band_rows = band_rows;
  options.memory_budget_bytes = budget;
  std::vector<double> a(n, 1.0 / n), b(m, 1.0 / m);
  Run out;
  out.result = solve_sinkhorn(comm, PointCloudView{x.data(), n, dim}, a, PointCloudView{y.data(), m, dim}, b, options);
  out.ms_per_iteration = 1e3 * out.result.iteration_seconds / std::max(1, out.result.iterations);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int status = 0;
  try {
    std::vector<std::int64_t> sizes = {20000, 50000};
    std::int64_t dim = 512, online = 200000;
    int iterations = 30, online_iterations = 5;
    std::string points_dir;
    for (int i = 1; i + 1 < argc; i += 2) {
      const std::string key = argv[i], value = argv[i + 1];
      if (key == "--sizes") sizes = parse_list(value);
      else if (key == "--dim") dim = std::stoll(value);
      else if (key == "--iterations") iterations = std::stoi(value);
      else if (key == "--online") online = std::stoll(value);
      else if (key == "--online-iterations") online_iterations = std::stoi(value);
      else if (key == "--points-dir") points_dir = value;
      else throw InputError("unknown option " + key);
    }
    auto world = MpiCommunicator::world();
    if (!cuda_device_available()) {
      std::printf("gpu_sinkhorn_bench: no CUDA device visible; nothing to measure\n");
      MPI_Finalize();
      return 0;
    }
    {  // load every kernel once (CUDA loads modules lazily)
      const auto x = make_points(600, 32, 1, 0.0f), y = make_points(500, 32, 2, 0.3f);
      for (auto storage : {GpuStorage::kFloat32, GpuStorage::kFloat16, GpuStorage::kBFloat16})
        for (auto gemm : {GemmPrecision::kFloat32, GemmPrecision::kTf32, GemmPrecision::kBFloat16}) {
          run(world, x, y, 600, 500, 32, storage, gemm, 0, -1, 3);
          run(world, x, y, 600, 500, 32, storage, gemm, 256, 0, 3);
        }
    }
    {  // the memory-bandwidth ceiling: a 4 GiB device-to-device copy (read + write)
      const std::size_t bytes = std::size_t{4} << 30;
      void *from = nullptr, *to = nullptr;
      TASKREL_CUDA_CHECK(cudaMalloc(&from, bytes));
      TASKREL_CUDA_CHECK(cudaMalloc(&to, bytes));
      TASKREL_CUDA_CHECK(cudaMemset(from, 1, bytes));
      cudaEvent_t start, stop;
      TASKREL_CUDA_CHECK(cudaEventCreate(&start));
      TASKREL_CUDA_CHECK(cudaEventCreate(&stop));
      TASKREL_CUDA_CHECK(cudaMemcpy(to, from, bytes, cudaMemcpyDeviceToDevice));
      TASKREL_CUDA_CHECK(cudaEventRecord(start));
      for (int k = 0; k < 5; ++k) TASKREL_CUDA_CHECK(cudaMemcpy(to, from, bytes, cudaMemcpyDeviceToDevice));
      TASKREL_CUDA_CHECK(cudaEventRecord(stop));
      TASKREL_CUDA_CHECK(cudaEventSynchronize(stop));
      float ms = 0;
      TASKREL_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
      std::printf("device-to-device copy: %.0f GB/s (bytes read + written)\n", 5.0 * 2 * bytes / (ms * 1e-3) / 1e9);
      TASKREL_CUDA_CHECK(cudaFree(from));
      TASKREL_CUDA_CHECK(cudaFree(to));
    }
    std::printf("%-8s %-9s %-6s %-12s %10s %10s %12s %16s %10s\n", "n=m", "storage", "gemm", "band", "setup_s",
                "ms/iter", "GB/s(2rd)", "transport_cost", "marg_err");
    for (std::int64_t n : sizes) {
      const auto x = make_points(n, dim, 11, 0.0f), y = make_points(n, dim, 12, 0.4f);
      if (!points_dir.empty()) {
        const std::string path = points_dir + "/points_" + std::to_string(n) + ".f32";
        std::FILE* file = std::fopen(path.c_str(), "wb");
        if (file == nullptr) throw RuntimeError("cannot write " + path);
        std::fwrite(x.data(), sizeof(float), x.size(), file);
        std::fwrite(y.data(), sizeof(float), y.size(), file);
        std::fclose(file);
      }
      struct Variant {
        GpuStorage storage;
        std::int64_t band;
        const char* band_name;
      };
      // L2-sized bands: ~24 MB of cost per band.
      const std::int64_t l2_band_16 = std::max<std::int64_t>(128, (24ll << 20) / (2 * n));
      // The L2-band variant shows what re-reading from L2 buys with these
      // kernels (a band of a few hundred rows leaves most SMs idle).
      const std::vector<Variant> variants = {
          {GpuStorage::kFloat32, 0, "all"},
          {GpuStorage::kFloat16, 0, "all"},
          {GpuStorage::kBFloat16, 0, "all"},
          {GpuStorage::kFloat16, l2_band_16, "L2"},
      };
      for (const Variant& v : variants) {
        const Run r = run(world, x, y, n, n, dim, v.storage, GemmPrecision::kFloat32, v.band, -1, iterations);
        const double bytes = 2.0 * n * n * (v.storage == GpuStorage::kFloat32 ? 4.0 : 2.0);
        std::printf("%-8lld %-9s %-6s %-12s %10.3f %10.3f %12.0f %16.8g %10.3g%s\n", static_cast<long long>(n),
                    enum_name(v.storage), "fp32",
                    (std::string(v.band_name) + (v.band ? "(" + std::to_string(v.band) + ")" : "")).c_str(),
                    r.result.setup_seconds, r.ms_per_iteration, bytes / (r.ms_per_iteration * 1e-3) / 1e9,
                    r.result.transport_cost, r.result.marginal_error, r.result.cost_stored ? "" : " (online)");
        std::fflush(stdout);
      }
      for (auto gemm : {GemmPrecision::kTf32, GemmPrecision::kBFloat16}) {
        const Run r = run(world, x, y, n, n, dim, GpuStorage::kFloat16, gemm, 0, -1, iterations);
        std::printf("%-8lld %-9s %-6s %-12s %10.3f %10.3f %12s %16.8g %10.3g\n", static_cast<long long>(n), "float16",
                    enum_name(gemm), "all", r.result.setup_seconds, r.ms_per_iteration, "-", r.result.transport_cost,
                    r.result.marginal_error);
        std::fflush(stdout);
      }
    }
    if (online > 0) {
      const auto x = make_points(online, dim, 21, 0.0f), y = make_points(online, dim, 22, 0.4f);
      for (auto gemm : {GemmPrecision::kBFloat16, GemmPrecision::kTf32}) {
        const Run r = run(world, x, y, online, online, dim, GpuStorage::kFloat16, gemm, 0, 0, online_iterations);
        std::printf("%-8lld %-9s %-6s %-12s %10.3f %10.3f %12s %16.8g %10.3g%s\n", static_cast<long long>(online),
                    "float16", enum_name(gemm), "online", r.result.setup_seconds, r.ms_per_iteration, "-",
                    r.result.transport_cost, r.result.marginal_error, r.result.cost_stored ? " (stored?)" : " (online)");
        std::fflush(stdout);
      }
    }
  } catch (const std::exception& error) {
    std::fprintf(stderr, "gpu_sinkhorn_bench: %s\n", error.what());
    status = 1;
  }
  MPI_Finalize();
  return status;
}
