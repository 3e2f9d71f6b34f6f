// Exact earth mover's distance by network simplex (LEMON), for problems up to
// ~10,000 points: the reference the Sinkhorn solver is tested against, and
// the solver of the paper-compatible relatedness mode.
//
// LEMON's network simplex needs integer data, so masses are scaled to
// integers of 2^40 in total (largest-remainder rounding keeps the two sides
// exactly equal) and costs to integers up to 2^31. The reported cost is
// recomputed in float64 from the flows and the unrounded costs; the error
// from the rounding is below 1e-9 relative for any problem this size.
#pragma once

#include <cstdint>
#include <vector>

#include "ot/ground_cost.h"
#include "ot/point_cloud.h"

namespace taskrel::ot {

struct PlanEntry {
  std::int64_t source = 0;
  std::int64_t target = 0;
  double mass = 0.0;
};

struct ExactEmdResult {
  double cost = 0.0;                 // sum_ij P_ij C_ij
  std::vector<PlanEntry> plan;       // non-zero entries, at most n + m - 1
  std::vector<double> source_potentials;  // u, with u_i + v_j <= C_ij
  std::vector<double> target_potentials;  // v, and <a, u> + <b, v> = cost
};

// Row-major n x m cost; weights non-negative, normalised to 1 internally.
ExactEmdResult solve_exact_emd(const std::vector<double>& cost, std::int64_t n, std::int64_t m,
                               const std::vector<double>& a, const std::vector<double>& b);

// Same, between two point clouds with the given ground cost.
ExactEmdResult solve_exact_emd(PointCloudView x, const std::vector<double>& a, PointCloudView y,
                               const std::vector<double>& b, GroundCost cost);

}  // namespace taskrel::ot
