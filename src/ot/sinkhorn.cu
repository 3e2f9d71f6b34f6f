// CUDA backend of the sharded log-domain Sinkhorn (interface: sinkhorn.h):
// the solver (this file) over the device buffers, kernels, cost block and
// device context of src/ot/cuda/.
//
// The same iteration as sinkhorn.cpp, on this rank's GPU:
//  - the cost block (local rows of X against Y) comes from cuBLAS GEMM,
//    ||x||^2 + ||y||^2 - 2 x.y after centring on the mean of Y, and is stored
//    in float32, float16 or bfloat16 (C / s, s an upper bound of the cost)
//    when it fits the memory budget, else recomputed band by band each
//    iteration (online);
//  - per band of rows, a row kernel (4 rows per warp, 16-byte loads) computes
//    the row sums of the current plan stabilised by the current f_i (every
//    summand <= 1), updates f and each row's marginal error; a column kernel
//    then sums the entries of the updated plan stabilised by the current g
//    into per-tile partials. Within a band that fits the L2 cache the column
//    kernel re-reads the rows from L2, so HBM sees the cost about once;
//  - the partials are summed in a fixed order (deterministic), the m column
//    sums and the error all-reduced in one call (NCCL on device buffers when
//    comm is an NcclCommunicator, else through the host), g updated;
//  - a row whose stabilised sum leaves [1e-30, 1e30] is redone exactly by its
//    warp (max-shifted); columns whose sum underflows are recomputed exactly
//    with max and sum all-reduces, as on the CPU.
// Exponents are formed in float32 in base 2 (x = g_j k + f_i k - c_ij s k,
// k = log2(e) / epsilon) and exponentiated with ex2.approx; the updates
// subtract exactly the rounded shift they added, so rounding of the shifts
// does not bias the potentials. Sums are float32 per 8 entries, then float64.
#include "ot/sinkhorn.h"
#include "ot/plan_summary.h"
#include "ot/sinkhorn_formulas.h"
#include "ot/sinkhorn_schedule.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <numeric>
#include <type_traits>
#include <vector>

#include "comm/cuda_check.h"
#include "comm/nccl_communicator.h"
#include "core/error.h"
#include "ot/cuda/cost_block.cuh"
#include "ot/cuda/device_context.cuh"

namespace taskrel::ot {

bool cuda_device_visible() { return visible_cuda_devices() > 0; }

namespace {

using namespace gpu;

// ---- the solver ---------------------------------------------------------------

// The m + 1 sums of an iteration (or the exact fallback's vectors) over all
// ranks: NCCL on the device buffer when available, else through the host.
void all_reduce_device(Communicator& comm, double* device_data, std::size_t count, ReduceOp op, cudaStream_t stream) {
  if (comm.size() == 1 || count == 0) return;
  if (auto* nccl = dynamic_cast<NcclCommunicator*>(&comm)) {
    nccl->all_reduce_device(device_data, count, op, stream);
    return;
  }
  std::vector<double> host(count);
  TASKREL_CUDA_CHECK(cudaMemcpyAsync(host.data(), device_data, count * sizeof(double), cudaMemcpyDeviceToHost, stream));
  TASKREL_CUDA_CHECK(cudaStreamSynchronize(stream));
  comm.all_reduce(host.data(), count, op);
  TASKREL_CUDA_CHECK(cudaMemcpyAsync(device_data, host.data(), count * sizeof(double), cudaMemcpyHostToDevice, stream));
}

template <typename S>
class GpuSinkhorn {
 public:
  GpuSinkhorn(Communicator& comm, GpuCostBlock<S>& cost, const std::vector<double>& a, const std::vector<double>& b,
              const SinkhornOptions& options, cudaStream_t stream)
      : comm_(comm), cost_(cost), options_(options), stream_(stream), n_(cost.rows()), m_(cost.cols()),
        ld_(cost.ld()), a_(a), b_(b) {
    const std::size_t rows = std::max<std::int64_t>(n_, 1);
    f_.resize(rows);
    fk_.resize(rows);
    row_error_.resize(rows);
    log_a_.resize(rows);
    g_.resize(ld_);
    gk_.resize(ld_);
    log_b_.resize(ld_);
    sums_.resize(ld_ + 1);
    untrusted_.resize(1);
    choose_launch_shapes();
    partials_.resize(static_cast<std::size_t>(std::max<std::int64_t>(1, tiles()) * ld_));
    std::vector<double> log_a(n_), log_b(m_);
    for (std::int64_t i = 0; i < n_; ++i) log_a[i] = std::log(a[i]);
    for (std::int64_t j = 0; j < m_; ++j) log_b[j] = std::log(b[j]);
    log_a_.upload(log_a.data(), n_);
    log_b_.upload(log_b.data(), m_);
  }

  void warm_start(const Potentials& start) {
    TASKREL_ASSERT(static_cast<std::int64_t>(start.f.size()) == n_ &&
                       static_cast<std::int64_t>(start.g.size()) == m_,
                   "warm start has {} / {} potentials for {} / {} points", start.f.size(), start.g.size(), n_, m_);
    f_.upload(start.f.data(), n_);
    g_.upload(start.g.data(), m_);
  }

  // One iteration at epsilon; returns the global L1 row-marginal error of the
  // plan before it (as sinkhorn.cpp).
  double iterate(double epsilon, int& fallbacks) {
    const double tau_a = relaxation(options_.rho_source, epsilon);
    const double tau_b = relaxation(options_.rho_target, epsilon);
    const double k2 = kLog2e / epsilon;
    const float kc = static_cast<float>(cost_.scale() * k2);
    scale_potentials<<<blocks_for(m_, 256), 256, 0, stream_>>>(g_.get(), gk_.get(), m_, k2);
    check_launch();
    for (std::int64_t begin = 0; begin < n_; begin += cost_.band_rows()) {
      const std::int64_t count = std::min(cost_.band_rows(), n_ - begin);
      const S* band = cost_.band(begin, count);
      launch_rows<false>(band, begin, count, kc, k2, epsilon, tau_a, nullptr, nullptr);
      launch_columns(band, begin, count, kc);
    }
    if (n_ > 0) {
      reduce_partials<<<blocks_for(m_, 256), 256, 0, stream_>>>(partials_.get(), ld_, tiles(), m_, sums_.get());
      check_launch();
      sum_in_order<<<1, 1024, 0, stream_>>>(row_error_.get(), n_, sums_.get() + m_);
      check_launch();
    } else {
      TASKREL_CUDA_CHECK(cudaMemsetAsync(sums_.get(), 0, (m_ + 1) * sizeof(double), stream_));
    }
    all_reduce_device(comm_, sums_.get(), m_ + 1, ReduceOp::kSum, stream_);
    TASKREL_CUDA_CHECK(cudaMemsetAsync(untrusted_.get(), 0, sizeof(int), stream_));
    constexpr double smallest_trusted = smallest_trusted_column_sum<float>();  // float32 exponentials
    update_columns<<<blocks_for(m_, 256), 256, 0, stream_>>>(sums_.get(), gk_.get(), log_b_.get(), g_.get(), m_,
                                                            epsilon, tau_b, smallest_trusted, untrusted_.get());
    check_launch();
    double error = 0.0;
    int untrusted = 0;
    TASKREL_CUDA_CHECK(cudaMemcpyAsync(&error, sums_.get() + m_, sizeof(double), cudaMemcpyDeviceToHost, stream_));
    TASKREL_CUDA_CHECK(cudaMemcpyAsync(&untrusted, untrusted_.get(), sizeof(int), cudaMemcpyDeviceToHost, stream_));
    TASKREL_CUDA_CHECK(cudaStreamSynchronize(stream_));
    if (untrusted > 0) {
      // The sums are identical on every rank, so is the list of columns.
      std::vector<double> sums(m_);
      sums_.download(sums.data(), m_);
      std::vector<std::int64_t> columns;
      for (std::int64_t j = 0; j < m_; ++j)
        if (!(sums[j] >= smallest_trusted) || std::isinf(sums[j])) columns.push_back(j);
      exact_column_update(epsilon, tau_b, columns);
      ++fallbacks;
    }
    return error;
  }

  // g_j = tau_b (eps log b_j - eps LSE_i((f_i - C_ij)/eps)) with max and sum all-reduces.
  void exact_column_update(double epsilon, double tau_b, const std::vector<std::int64_t>& columns) {
    const std::size_t k = columns.size();
    DeviceArray<std::int64_t> list(k);
    list.upload(columns.data(), k);
    DeviceArray<double> best(k), total(k);
    std::vector<double> host(k, -kInfinity);
    best.upload(host.data(), k);
    for (int pass = 0; pass < 2; ++pass) {
      for (std::int64_t begin = 0; begin < n_; begin += cost_.band_rows()) {
        const std::int64_t count = std::min(cost_.band_rows(), n_ - begin);
        const S* band = cost_.band(begin, count);
        exact_columns<S><<<static_cast<unsigned>(k), 256, 0, stream_>>>(band, ld_, count, f_.get() + begin, list.get(),
                                                                         cost_.scale(), epsilon, pass, best.get(),
                                                                         total.get());
        check_launch();
      }
      all_reduce_device(comm_, pass == 0 ? best.get() : total.get(), k, pass == 0 ? ReduceOp::kMax : ReduceOp::kSum,
                        stream_);
    }
    TASKREL_CUDA_CHECK(cudaStreamSynchronize(stream_));
    std::vector<double> maxima(k), sums(k), g(m_);
    best.download(maxima.data(), k);
    total.download(sums.data(), k);
    g_.download(g.data(), m_);
    for (std::size_t q = 0; q < k; ++q) {
      const std::int64_t j = columns[q];
      const double lse = std::log(sums[q]) + maxima[q] / epsilon;
      g[j] = tau_b * (epsilon * std::log(b_[j]) - epsilon * lse);
    }
    g_.upload(g.data(), m_);
  }

  // Transport cost, marginals and objective of the plan at (f, g), as sinkhorn.cpp.
  void evaluate(double epsilon, SinkhornResult& result) {
    const double k2 = kLog2e / epsilon;
    const float kc = static_cast<float>(cost_.scale() * k2);
    DeviceArray<double> row_mass(std::max<std::int64_t>(n_, 1)), row_cost(std::max<std::int64_t>(n_, 1));
    scale_potentials<<<blocks_for(m_, 256), 256, 0, stream_>>>(g_.get(), gk_.get(), m_, k2);
    check_launch();
    if (n_ > 0) {
      scale_potentials<<<blocks_for(n_, 256), 256, 0, stream_>>>(f_.get(), fk_.get(), n_, k2);
      check_launch();
    }
    for (std::int64_t begin = 0; begin < n_; begin += cost_.band_rows()) {
      const std::int64_t count = std::min(cost_.band_rows(), n_ - begin);
      const S* band = cost_.band(begin, count);
      launch_rows<true>(band, begin, count, kc, k2, epsilon, 1.0, row_mass.get() + begin, row_cost.get() + begin);
      launch_columns(band, begin, count, kc);
    }
    std::vector<double> columns_host(m_, 0.0);
    if (n_ > 0) {
      reduce_partials<<<blocks_for(m_, 256), 256, 0, stream_>>>(partials_.get(), ld_, tiles(), m_, sums_.get());
      check_launch();
      TASKREL_CUDA_CHECK(cudaStreamSynchronize(stream_));
      sums_.download(columns_host.data(), m_);
    }
    std::vector<double> mass(n_), cost(n_), f(n_), g(m_);
    TASKREL_CUDA_CHECK(cudaStreamSynchronize(stream_));
    row_mass.download(mass.data(), n_);
    row_cost.download(cost.data(), n_);
    f_.download(f.data(), n_);
    g_.download(g.data(), m_);

    summarise_plan(comm_, options_, epsilon, a_, b_, f, g, PlanMeasurements{std::move(mass), std::move(cost), std::move(columns_host)},
                   result);
    result.potentials.f = std::move(f);
    result.potentials.g = std::move(g);
  }

 private:
  std::int64_t tiles() const { return round_up(std::max<std::int64_t>(n_, 1), tile_rows_) / tile_rows_; }

  // Fraction of the last wave's slots that hold work, for `units` equal work units.
  static double wave_efficiency(std::int64_t units, std::int64_t slots) {
    if (units <= slots) return 1.0;  // one partial wave: all units run at once
    const std::int64_t waves = (units + slots - 1) / slots;
    return static_cast<double>(units) / static_cast<double>(waves * slots);
  }

  // Rows per warp (row kernel) and rows per tile (column kernel) such that
  // the grids' last waves are nearly full (a half-empty last wave of a
  // bandwidth-bound kernel costs up to a third of its time).
  void choose_launch_shapes() {
    int device = 0, sms = 0, row_blocks = 0, column_blocks = 0;
    TASKREL_CUDA_CHECK(cudaGetDevice(&device));
    TASKREL_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
    TASKREL_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&row_blocks, row_kernel<S, false, 4>, kRowThreads, 0));
    TASKREL_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&column_blocks, column_kernel<S>, kColumnThreads, 0));
    const std::int64_t rows = std::min(cost_.band_rows(), std::max<std::int64_t>(n_, 1));
    const std::int64_t warp_slots = static_cast<std::int64_t>(sms) * row_blocks * (kRowThreads / 32);
    rows_per_warp_ = wave_efficiency((rows + 3) / 4, warp_slots) >= 0.9 ||
                             wave_efficiency((rows + 3) / 4, warp_slots) >= wave_efficiency((rows + 1) / 2, warp_slots)
                         ? 4
                         : 2;
    const std::int64_t column_slots = static_cast<std::int64_t>(sms) * column_blocks;
    const std::int64_t column_groups = (m_ + kColumnThreads * kVector - 1) / (kColumnThreads * kVector);
    double best = -1.0;
    for (int tile : {128, 64, 32}) {
      const double efficiency = wave_efficiency(column_groups * ((rows + tile - 1) / tile), column_slots);
      if (efficiency > best + 0.02) {
        best = efficiency;
        tile_rows_ = tile;
      }
      if (best >= 0.9) break;
    }
  }

  template <bool kEvaluate>
  void launch_rows(const S* band, std::int64_t begin, std::int64_t count, float kc, double k2, double epsilon,
                   double tau_a, double* row_mass, double* row_cost) {
    const std::int64_t warps = (count + rows_per_warp_ - 1) / rows_per_warp_;
    const unsigned blocks = blocks_for(warps * 32, kRowThreads);
    float* fk = kEvaluate ? nullptr : fk_.get() + begin;
    double* error = kEvaluate ? nullptr : row_error_.get() + begin;
    if (rows_per_warp_ == 4)
      row_kernel<S, kEvaluate, 4><<<blocks, kRowThreads, 0, stream_>>>(
          band, ld_, count, m_, gk_.get(), kc, k2, epsilon, tau_a, log_a_.get() + begin, f_.get() + begin, fk, error,
          row_mass, row_cost, cost_.scale());
    else
      row_kernel<S, kEvaluate, 2><<<blocks, kRowThreads, 0, stream_>>>(
          band, ld_, count, m_, gk_.get(), kc, k2, epsilon, tau_a, log_a_.get() + begin, f_.get() + begin, fk, error,
          row_mass, row_cost, cost_.scale());
    check_launch();
  }

  void launch_columns(const S* band, std::int64_t begin, std::int64_t count, float kc) {
    const dim3 grid(blocks_for(m_, kColumnThreads * kVector), static_cast<unsigned>((count + tile_rows_ - 1) / tile_rows_));
    column_kernel<S><<<grid, kColumnThreads, 0, stream_>>>(band, ld_, count, m_, fk_.get() + begin, gk_.get(), kc,
                                                            partials_.get(), begin / tile_rows_, tile_rows_);
    check_launch();
  }

  int rows_per_warp_ = 4;
  int tile_rows_ = 128;
  Communicator& comm_;
  GpuCostBlock<S>& cost_;
  const SinkhornOptions& options_;
  cudaStream_t stream_;
  std::int64_t n_, m_, ld_;
  std::vector<double> a_, b_;
  DeviceArray<double> f_, g_, log_a_, log_b_, row_error_, sums_;
  DeviceArray<float> fk_, gk_, partials_;
  DeviceArray<int> untrusted_;
};

template <typename S>
SinkhornResult solve_on_device(Communicator& comm, PointCloudView x_local, const std::vector<double>& a_local,
                               PointCloudView y, const std::vector<double>& b, const SinkhornOptions& options,
                               const Potentials* warm_start) {
  const auto started = std::chrono::steady_clock::now();
  // An NCCL communicator has already chosen its GPU; else pick by local rank.
  if (auto* nccl = dynamic_cast<NcclCommunicator*>(&comm)) TASKREL_CUDA_CHECK(cudaSetDevice(nccl->device()));
  else select_device_for_local_rank();
  DeviceContext& context = device_context();
  GpuCostBlock<S> cost(x_local, y, options.cost, options.gpu, options.memory_budget_bytes, context.blas, context.stream);
  const long long global_rows = comm.all_reduce_sum(static_cast<long long>(x_local.rows));
  TASKREL_ASSERT(global_rows > 0 && y.rows > 0, "empty OT problem ({} x {})", global_rows, y.rows);

  const ProblemMasses masses = problem_masses(comm, options, a_local, b);
  SinkhornResult result;
  result.device = Device::kCuda;
  set_cost_scale(comm, options, cost.local_sum(), cost.local_max(), global_rows, y.rows, result);
  result.cost_stored = cost.stored();

  GpuSinkhorn<S> solver(comm, cost, masses.source, masses.target, options, context.stream);
  TASKREL_CUDA_CHECK(cudaStreamSynchronize(context.stream));
  const auto iterating = std::chrono::steady_clock::now();
  result.setup_seconds = std::chrono::duration<double>(iterating - started).count();
  if (warm_start != nullptr) solver.warm_start(*warm_start);
  run_sinkhorn_schedule(solver, options, warm_start != nullptr, result);
  result.iteration_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - iterating).count();
  solver.evaluate(result.epsilon, result);
  if (!std::isfinite(result.transport_cost) || !std::isfinite(result.objective))
    throw RuntimeError(fmt::format(
        "Sinkhorn (CUDA) produced a non-finite transport cost at epsilon {} (mean cost {}): use a larger epsilon or "
        "--device cpu --precision float64",
        result.epsilon, result.mean_cost));
  return result;
}

}  // namespace
SinkhornResult solve_sinkhorn_cuda(Communicator& comm, PointCloudView x_local, const std::vector<double>& a_local,
                                   PointCloudView y, const std::vector<double>& b, const SinkhornOptions& options,
                                   const Potentials* warm_start) {
  switch (options.gpu.storage) {
    case GpuStorage::kFloat32: return solve_on_device<float>(comm, x_local, a_local, y, b, options, warm_start);
    case GpuStorage::kFloat16: return solve_on_device<__half>(comm, x_local, a_local, y, b, options, warm_start);
    case GpuStorage::kBFloat16:
      return solve_on_device<__nv_bfloat16>(comm, x_local, a_local, y, b, options, warm_start);
  }
  TASKREL_ASSERT(false, "unknown GPU storage");
  return {};
}

}  // namespace taskrel::ot
