// The iteration schedule shared by the CPU and CUDA Sinkhorn backends: the
// optional epsilon-annealing stages (a few iterations each, from the largest
// cost down), then iterations at the target epsilon until the marginal error
// is below the tolerance or max_iterations is reached.
#pragma once

#include <algorithm>
#include <limits>
#include <vector>

#include "ot/sinkhorn.h"

namespace taskrel::ot {

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
