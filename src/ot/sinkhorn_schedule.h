// The parts of a solve shared by the CPU and CUDA Sinkhorn backends: the
// masses the problem is posed with, the cost scale that sets epsilon, and the
// iteration schedule (optional epsilon-annealing stages, a few iterations
// each from the largest cost down, then iterations at the target epsilon
// until the marginal error is below the tolerance or max_iterations).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

#include "comm/communicator.h"
#include "ot/sinkhorn.h"

namespace taskrel::ot {

struct ProblemMasses {
  std::vector<double> source;  // this rank's rows
  std::vector<double> target;
};

// Balanced problems need equal masses: both sides are normalised to 1 over
// all ranks. Relaxed marginals keep their masses (that mismatch is what they
// model). Collective over `comm` for balanced problems.
inline ProblemMasses problem_masses(Communicator& comm, const SinkhornOptions& options,
                                    const std::vector<double>& a_local, const std::vector<double>& b) {
  const bool balanced = std::isinf(options.rho_source) && std::isinf(options.rho_target);
  const double local_mass = std::accumulate(a_local.begin(), a_local.end(), 0.0);
  const double source_mass = balanced ? comm.all_reduce_sum(local_mass) : 1.0;
  const double target_mass = balanced ? std::accumulate(b.begin(), b.end(), 0.0) : 1.0;
  ProblemMasses out{a_local, b};
  for (double& w : out.source) w /= source_mass;
  for (double& w : out.target) w /= target_mass;
  return out;
}

// Sets result.mean_cost, max_cost and the absolute epsilon from this rank's
// cost sum and maximum (collective: two all-reduces).
inline void set_cost_scale(Communicator& comm, const SinkhornOptions& options, double local_sum, double local_max,
                           long long global_rows, std::int64_t columns, SinkhornResult& result) {
  double stats[2] = {local_sum, local_max};
  comm.all_reduce(stats, 1, ReduceOp::kSum);
  comm.all_reduce(stats + 1, 1, ReduceOp::kMax);
  result.mean_cost = stats[0] / (static_cast<double>(global_rows) * static_cast<double>(columns));
  result.max_cost = stats[1];
  const double scale = options.epsilon_mode == EpsilonMode::kRelative ? result.mean_cost : 1.0;
  result.epsilon = options.epsilon * scale;
  if (!(result.epsilon > 0)) {
    // All points coincide: every plan costs 0. Keep epsilon positive so the
    // entropic problem stays well posed.
    result.epsilon = options.epsilon_mode == EpsilonMode::kRelative ? options.epsilon : result.epsilon;
    if (!(result.epsilon > 0)) result.epsilon = 1.0;
  }
}

// Solver: `double iterate(double epsilon, int& fallbacks)` returning the
// marginal error of the plan before the iteration. Fills result.iterations,
// stages, converged, marginal_error and exact_column_fallbacks.
template <typename Solver>
void run_sinkhorn_schedule(Solver& solver, const SinkhornOptions& options, bool warm_started,
                           SinkhornResult& result) {
  std::vector<double> schedule;
  if (!warm_started && options.epsilon_scaling)
    for (double eps = result.max_cost; eps > result.epsilon; eps *= options.scaling_factor) schedule.push_back(eps);
  int fallbacks = 0;
  for (double eps : schedule) {
    ++result.stages;
    for (int it = 0; it < options.iterations_per_stage; ++it) {
      ++result.iterations;
      if (solver.iterate(eps, fallbacks) < std::max(options.tolerance, 1e-3)) break;
    }
  }
  ++result.stages;
  double error = std::numeric_limits<double>::infinity();
  for (int it = 0; it < options.max_iterations; ++it) {
    ++result.iterations;
    error = solver.iterate(result.epsilon, fallbacks);
    if (error < options.tolerance) {
      result.converged = true;
      break;
    }
  }
  result.marginal_error = error;
  result.exact_column_fallbacks = fallbacks;
}

}  // namespace taskrel::ot
