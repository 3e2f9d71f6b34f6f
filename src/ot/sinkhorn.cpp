#include "ot/sinkhorn.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include <Eigen/Dense>
#include <omp.h>

#include "core/error.h"
#include "ot/cost_block.h"
#include "ot/device_backend.h"
#include "ot/fast_exp.h"
#include "ot/plan_summary.h"
#include "ot/sinkhorn_formulas.h"
#include "ot/sinkhorn_schedule.h"

namespace taskrel::ot {

namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();

template <typename T>
class ShardedSinkhorn {
 public:
  using Array = Eigen::Array<T, Eigen::Dynamic, 1>;
  using ArrayD = Eigen::Array<double, Eigen::Dynamic, 1>;

  ShardedSinkhorn(Communicator& comm, const CostBlock<T>& cost, const std::vector<double>& a_local,
                  const std::vector<double>& b, const SinkhornOptions& options)
      : comm_(comm), cost_(cost), options_(options), n_(cost.rows()), m_(cost.cols()) {
    log_a_.resize(n_);
    log_b_.resize(m_);
    for (std::int64_t i = 0; i < n_; ++i) log_a_[i] = std::log(a_local[i]);
    for (std::int64_t j = 0; j < m_; ++j) log_b_[j] = std::log(b[j]);
    f_.assign(n_, 0.0);
    g_.assign(m_, 0.0);
    a_ = a_local;
    b_ = b;
  }

  void warm_start(const Potentials& start) {
    TASKREL_ASSERT(static_cast<std::int64_t>(start.f.size()) == n_ &&
                       static_cast<std::int64_t>(start.g.size()) == m_,
                   "warm start has {} / {} potentials for {} / {} points", start.f.size(),
                   start.g.size(), n_, m_);
    f_ = start.f;
    g_ = start.g;
  }

  // One Sinkhorn iteration at `epsilon`: f <- row update, g <- column update.
  // Returns the global L1 marginal error of the plan as it was before the
  // iteration (for balanced rows: sum_i |P1 - a|).
  double iterate(double epsilon, int& fallbacks) {
    const double tau_a = relaxation(options_.rho_source, epsilon);
    const double tau_b = relaxation(options_.rho_target, epsilon);
    Eigen::Map<const ArrayD> g(g_.data(), m_);
    const double inv_eps = 1.0 / epsilon;

    const int threads = omp_get_max_threads();
    std::vector<ArrayD> column_sums(threads, ArrayD::Zero(m_));
    std::vector<double> errors(threads, 0.0);
#pragma omp parallel num_threads(threads)
    {
      const int thread = omp_get_thread_num();
      ArrayD& column_sum = column_sums[thread];
      // Two row buffers: the row being computed, and the previous row whose
      // plan entries are added to the column sums inside the next row's pass
      // (its weight is only known once its sum is complete).
      ArrayD current(m_), pending(m_);
      double pending_weight = 0.0;
      bool has_pending = false;
      std::vector<T> scratch;
      double error = 0.0;
      const std::int64_t tile = cost_.tile_rows();
#pragma omp for schedule(static)
      for (std::int64_t begin = 0; begin < n_; begin += tile) {
        const std::int64_t count = std::min(tile, n_ - begin);
        const T* rows = cost_.row_tile(begin, count, scratch);
        for (std::int64_t r = 0; r < count; ++r) {
          const std::int64_t i = begin + r;
          const T* c = rows + r * m_;
          // Stabilise by the current f_i: the summands are the current plan's
          // entries, at most 1, so the sum can only underflow, never overflow.
          double offset = -f_[i];
          double sum = fused_row_pass(c, f_[i], inv_eps, current.data(), has_pending ? pending.data() : nullptr,
                                      pending_weight, column_sum.data());
          if (!(sum >= kSmallestTrustedRowSum && sum <= kLargestTrustedRowSum)) {
            // Exact max-shifted log-sum-exp for this row.
            double shift = -std::numeric_limits<double>::infinity();
            for (std::int64_t j = 0; j < m_; ++j) shift = std::max(shift, g_[j] - static_cast<double>(c[j]));
            sum = fused_row_pass(c, -shift, inv_eps, current.data(), nullptr, 0.0, column_sum.data());
            offset = shift;
          }
          // lse = log sum_j exp((g_j - C_ij) / eps)
          const double lse = std::log(sum) + offset / epsilon;
          const double f_new = tau_a * (epsilon * log_a_[i] - epsilon * lse);
          const double row_mass_now = std::exp(f_[i] / epsilon + lse);
          const double row_mass_next = std::exp(f_new / epsilon + lse);
          error += std::abs(row_mass_now - row_mass_next);
          // Entries of the updated plan, stabilised by the current g: current * weight.
          pending_weight = std::exp((f_new + offset) / epsilon);
          pending.swap(current);
          has_pending = true;
          f_[i] = f_new;
        }
      }
      if (has_pending) column_sum += pending * pending_weight;
      errors[thread] = error;
    }

    // Sum the thread partials in a fixed order (deterministic), then over ranks
    // together with the error: one all-reduce of m + 1 doubles per iteration.
    std::vector<double> reduced(m_ + 1, 0.0);
    Eigen::Map<ArrayD> reduced_columns(reduced.data(), m_);
    for (int t = 0; t < threads; ++t) {
      reduced_columns += column_sums[t];
      reduced[m_] += errors[t];
    }
    comm_.all_reduce(reduced.data(), reduced.size(), ReduceOp::kSum);

    std::vector<std::int64_t> untrusted;
    for (std::int64_t j = 0; j < m_; ++j) {
      const double sum = reduced[j];
      if (!(sum >= smallest_trusted_column_sum<T>()) || !std::isfinite(sum)) {
        untrusted.push_back(j);
        continue;
      }
      g_[j] = tau_b * (epsilon * log_b_[j] - epsilon * std::log(sum) + g_[j]);
    }
    if (!untrusted.empty()) {
      exact_column_update(epsilon, tau_b, untrusted);
      ++fallbacks;
    }
    return reduced[m_];
  }

  // g_j = tau_b (eps log b_j - eps LSE_i((f_i - C_ij)/eps)) with max and sum
  // all-reduces; every rank holds the same list of columns.
  void exact_column_update(double epsilon, double tau_b, const std::vector<std::int64_t>& columns) {
    const std::size_t k = columns.size();
    std::vector<double> maxima(k, -kInfinity);
    std::vector<double> sums(k, 0.0);
    std::vector<T> scratch;
    const std::int64_t tile = cost_.tile_rows();
    for (int pass = 0; pass < 2; ++pass) {
      for (std::int64_t begin = 0; begin < n_; begin += tile) {
        const std::int64_t count = std::min(tile, n_ - begin);
        const T* rows = cost_.row_tile(begin, count, scratch);
        for (std::int64_t r = 0; r < count; ++r) {
          const double f = f_[begin + r];
          const T* c = rows + r * m_;
          for (std::size_t q = 0; q < k; ++q) {
            const double value = f - static_cast<double>(c[columns[q]]);
            if (pass == 0) maxima[q] = std::max(maxima[q], value);
            else sums[q] += std::exp((value - maxima[q]) / epsilon);
          }
        }
      }
      comm_.all_reduce(pass == 0 ? maxima.data() : sums.data(), k, pass == 0 ? ReduceOp::kMax : ReduceOp::kSum);
    }
    for (std::size_t q = 0; q < k; ++q) {
      const std::int64_t j = columns[q];
      const double lse = std::log(sums[q]) + maxima[q] / epsilon;
      g_[j] = tau_b * (epsilon * log_b_[j] - epsilon * lse);
    }
  }

  // Transport cost, marginals and objective of the plan at (f, g).
  void evaluate(double epsilon, SinkhornResult& result) {
    Eigen::Map<const ArrayD> g(g_.data(), m_);
    const double inv_eps = 1.0 / epsilon;
    const int threads = omp_get_max_threads();
    std::vector<ArrayD> column_sums(threads, ArrayD::Zero(m_));
    std::vector<double> row_mass(n_, 0.0);
    std::vector<double> row_cost(n_, 0.0);
#pragma omp parallel num_threads(threads)
    {
      ArrayD& column_sum = column_sums[omp_get_thread_num()];
      ArrayD plan(m_);
      ArrayD row_buffer(m_);
      std::vector<T> scratch;
      const std::int64_t tile = cost_.tile_rows();
#pragma omp for schedule(static)
      for (std::int64_t begin = 0; begin < n_; begin += tile) {
        const std::int64_t count = std::min(tile, n_ - begin);
        const T* rows = cost_.row_tile(begin, count, scratch);
        for (std::int64_t r = 0; r < count; ++r) {
          const std::int64_t i = begin + r;
          const auto c = row_in_float64(rows + r * m_, row_buffer);
          plan = (((g + f_[i]) - c) * inv_eps).exp();
          row_mass[i] = plan.sum();
          row_cost[i] = (plan * c).sum();
          column_sum += plan;
        }
      }
    }
    PlanMeasurements measured{std::move(row_mass), std::move(row_cost), std::vector<double>(m_, 0.0)};
    Eigen::Map<ArrayD> columns(measured.column_sums.data(), m_);
    for (int t = 0; t < threads; ++t) columns += column_sums[t];
    summarise_plan(comm_, options_, epsilon, a_, b_, f_, g_, std::move(measured), result);
  }

  Potentials potentials() const { return Potentials{f_, g_}; }

  // One pass over a cost row in L1-sized chunks: exps = exp((g + shift - c) / eps),
  // returning their sum, fused with column_sum += pending * pending_weight.
  // The exponent and exp are float64 whatever the stored precision:
  // g_j + f_i - C_ij cancels to a small number from terms the size of the
  // cost, and float32 rounding there would put a floor of ~1e-6 under the
  // marginal error (a float32 *stored* cost is only a fixed perturbation of
  // the problem, which Sinkhorn then solves to the end).
  double fused_row_pass(const T* c, double shift, double inv_eps, double* exps, const double* pending,
                        double pending_weight, double* column_sum) const {
    constexpr std::int64_t kChunk = 512;
    alignas(64) double converted[kChunk];
    double sum = 0.0;
    for (std::int64_t j0 = 0; j0 < m_; j0 += kChunk) {
      const std::int64_t length = std::min(kChunk, m_ - j0);
      const double* cost_chunk;
      if constexpr (std::is_same_v<T, double>) {
        cost_chunk = c + j0;
      } else {
        for (std::int64_t k = 0; k < length; ++k) converted[k] = static_cast<double>(c[j0 + k]);
        cost_chunk = converted;
      }
      Eigen::Map<ArrayD> out(exps + j0, length);
      out = ((Eigen::Map<const ArrayD>(g_.data() + j0, length) + shift) -
             Eigen::Map<const ArrayD>(cost_chunk, length)) * inv_eps;
      exp_in_place(out.data(), length);
      sum += out.sum();
      if (pending != nullptr)
        Eigen::Map<ArrayD>(column_sum + j0, length) += Eigen::Map<const ArrayD>(pending + j0, length) * pending_weight;
    }
    return sum;
  }

  // A cost row as float64: a view when stored in float64, else converted
  // into `buffer` (a plain loop the compiler vectorises).
  Eigen::Map<const ArrayD> row_in_float64(const T* row, ArrayD& buffer) const {
    if constexpr (std::is_same_v<T, double>) {
      return Eigen::Map<const ArrayD>(row, m_);
    } else {
      double* out = buffer.data();
      for (std::int64_t j = 0; j < m_; ++j) out[j] = static_cast<double>(row[j]);
      return Eigen::Map<const ArrayD>(out, m_);
    }
  }

 private:
  Communicator& comm_;
  const CostBlock<T>& cost_;
  const SinkhornOptions& options_;
  std::int64_t n_;
  std::int64_t m_;
  std::vector<double> a_, b_, log_a_, log_b_, f_, g_;
};

void validate_options(const SinkhornOptions& options) {
  if (!(options.epsilon > 0) || !std::isfinite(options.epsilon))
    throw InputError(fmt::format("epsilon must be a positive number, got {}", options.epsilon));
  if (!(options.tolerance > 0)) throw InputError(fmt::format("tolerance must be positive, got {}", options.tolerance));
  if (options.max_iterations < 1)
    throw InputError(fmt::format("max-iterations must be at least 1, got {}", options.max_iterations));
  if (!(options.scaling_factor > 0 && options.scaling_factor < 1))
    throw InputError(fmt::format("epsilon scaling factor must be in (0, 1), got {}", options.scaling_factor));
  if (!(options.rho_source > 0) || !(options.rho_target > 0))
    throw InputError("the marginal penalties rho must be positive (infinity for a balanced marginal)");
}

template <typename T>
SinkhornResult solve_with(Communicator& comm, PointCloudView x_local, const std::vector<double>& a_local,
                          PointCloudView y, const std::vector<double>& b, const SinkhornOptions& options,
                          const Potentials* warm_start) {
  const auto started = std::chrono::steady_clock::now();
  CostBlock<T> cost(x_local, y, options.cost, options.memory_budget_bytes);
  const long long global_rows = comm.all_reduce_sum(static_cast<long long>(x_local.rows));
  TASKREL_ASSERT(global_rows > 0 && y.rows > 0, "empty OT problem ({} x {})", global_rows, y.rows);

  const ProblemMasses masses = problem_masses(comm, options, a_local, b);
  SinkhornResult result;
  double sum = 0.0, max = 0.0;
  cost.local_sum_and_max(sum, max);
  set_cost_scale(comm, options, sum, max, global_rows, y.rows, result);
  result.cost_stored = cost.stored();

  ShardedSinkhorn<T> solver(comm, cost, masses.source, masses.target, options);
  const auto iterating = std::chrono::steady_clock::now();
  result.setup_seconds = std::chrono::duration<double>(iterating - started).count();
  if (warm_start != nullptr) solver.warm_start(*warm_start);
  run_sinkhorn_schedule(solver, options, warm_start != nullptr, result);
  result.iteration_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - iterating).count();
  solver.evaluate(result.epsilon, result);
  result.potentials = solver.potentials();
  if (!std::isfinite(result.transport_cost) || !std::isfinite(result.objective))
    throw RuntimeError(fmt::format(
        "Sinkhorn produced a non-finite transport cost at epsilon {} (mean cost {}): use --precision float64 "
        "or a larger epsilon",
        result.epsilon, result.mean_cost));
  return result;
}

}  // namespace

bool cuda_backend_built() { return device_backend_linked(); }

bool cuda_device_available() { return device_visible(); }

Device default_device() { return cuda_device_available() ? Device::kCuda : Device::kCpu; }

CostPrecision default_cost_precision(Device device) {
  return device == Device::kCuda ? CostPrecision::kFloat16 : CostPrecision::kFloat32;
}

std::string cost_precision_problem(Device device, CostPrecision precision) {
  if (device == Device::kCpu && (precision == CostPrecision::kFloat16 || precision == CostPrecision::kBFloat16))
    return fmt::format("{} is a GPU storage: the CPU backend stores the cost in float64 or float32 (device cpu)",
                       enum_name(precision));
  if (device == Device::kCuda && precision == CostPrecision::kFloat64)
    return "float64 is CPU-only: the CUDA backend stores the cost in float32, float16 or bfloat16 (device cuda)";
  return "";
}

void set_cost_precision(SinkhornOptions& options, CostPrecision precision) {
  switch (precision) {
    case CostPrecision::kFloat64: options.precision = Precision::kFloat64; break;
    case CostPrecision::kFloat32:
      options.precision = Precision::kFloat32;
      options.gpu.storage = GpuStorage::kFloat32;
      break;
    case CostPrecision::kFloat16: options.gpu.storage = GpuStorage::kFloat16; break;
    case CostPrecision::kBFloat16: options.gpu.storage = GpuStorage::kBFloat16; break;
  }
}

SinkhornResult solve_sinkhorn(Communicator& comm, PointCloudView x_local, const std::vector<double>& a_local,
                              PointCloudView y, const std::vector<double>& b, const SinkhornOptions& options,
                              const Potentials* warm_start) {
  validate_options(options);
  TASKREL_ASSERT(static_cast<std::int64_t>(a_local.size()) == x_local.rows, "{} weights for {} rows",
                 a_local.size(), x_local.rows);
  TASKREL_ASSERT(static_cast<std::int64_t>(b.size()) == y.rows, "{} weights for {} rows", b.size(), y.rows);
  for (double w : a_local) TASKREL_ASSERT(w > 0 && std::isfinite(w), "source weight {} not positive", w);
  for (double w : b) TASKREL_ASSERT(w > 0 && std::isfinite(w), "target weight {} not positive", w);
  if (options.device == Device::kCuda)
    return solve_sinkhorn_on_device(comm, x_local, a_local, y, b, options, warm_start);
  if (options.precision == Precision::kFloat64)
    return solve_with<double>(comm, x_local, a_local, y, b, options, warm_start);
  return solve_with<float>(comm, x_local, a_local, y, b, options, warm_start);
}

}  // namespace taskrel::ot
