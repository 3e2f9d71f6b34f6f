#include "ot/plan_summary.h"

#include <cmath>

#include "core/error.h"

namespace taskrel::ot {

namespace {

// Generalised KL(p | q) = sum p log(p / q) - p + q.
double kl_term(double p, double q) { return (p > 0 ? p * std::log(p / q) : 0.0) - p + q; }

}  // namespace

void summarise_plan(Communicator& comm, const SinkhornOptions& options, double epsilon,
                    const std::vector<double>& a, const std::vector<double>& b, const std::vector<double>& f,
                    const std::vector<double>& g, PlanMeasurements measured, SinkhornResult& result) {
  const std::size_t n = a.size();
  const std::size_t m = b.size();
  TASKREL_ASSERT(measured.row_mass.size() == n && measured.row_cost.size() == n && f.size() == n,
                 "plan measured on {} / {} rows, {} potentials, {} weights", measured.row_mass.size(),
                 measured.row_cost.size(), f.size(), n);
  TASKREL_ASSERT(measured.column_sums.size() == m && g.size() == m, "{} column sums, {} potentials, {} weights",
                 measured.column_sums.size(), g.size(), m);

  // One all-reduce: the column sums, then cost, mass, <f, r>, KL(r | a), sum |r - a|.
  enum Scalar { kCost, kMass, kFDotRows, kRowKl, kRowError, kScalars };
  std::vector<double> reduced = std::move(measured.column_sums);
  reduced.resize(m + kScalars, 0.0);
  double* scalars = reduced.data() + m;
  for (std::size_t i = 0; i < n; ++i) {
    const double r = measured.row_mass[i];
    scalars[kCost] += measured.row_cost[i];
    scalars[kMass] += r;
    scalars[kFDotRows] += f[i] * r;
    scalars[kRowKl] += kl_term(r, a[i]);
    scalars[kRowError] += std::abs(r - a[i]);
  }
  comm.all_reduce(reduced.data(), reduced.size(), ReduceOp::kSum);

  double g_dot_columns = 0.0, column_kl = 0.0, column_error = 0.0;
  for (std::size_t j = 0; j < m; ++j) {
    const double c = reduced[j];
    g_dot_columns += g[j] * c;
    column_kl += kl_term(c, b[j]);
    column_error += std::abs(c - b[j]);
  }
  const double cost = scalars[kCost];
  const double mass = scalars[kMass];
  // sum P (log P - 1) with log P = (f_i + g_j - C_ij) / eps.
  const double entropy_term = (scalars[kFDotRows] + g_dot_columns - cost) / epsilon - mass;
  double objective = cost + epsilon * entropy_term;
  if (!std::isinf(options.rho_source)) objective += options.rho_source * scalars[kRowKl];
  if (!std::isinf(options.rho_target)) objective += options.rho_target * column_kl;

  result.transport_cost = cost;
  result.transported_mass = mass;
  result.objective = objective;
  // Balanced problems report the plan's own L1 marginal error; relaxed ones
  // keep the fixed-point residual of the last iteration (their marginals
  // are not meant to match a and b).
  if (std::isinf(options.rho_source) && std::isinf(options.rho_target))
    result.marginal_error = scalars[kRowError] + column_error;
}

}  // namespace taskrel::ot
