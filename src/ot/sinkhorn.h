// Entropic optimal transport between weighted point clouds, solved with a
// log-domain Sinkhorn whose rows are sharded over the ranks of a
// Communicator.
//
// Problem: min_P <P, C> + epsilon * sum P (log P - 1)  [+ rho_a KL(P1 | a) + rho_b KL(P^T 1 | b)]
// (for balanced problems, where sum P = 1, this is POT's <P, M> + reg sum P log P minus epsilon)
// with P = exp((f_i + g_j - C_ij) / epsilon). The balanced problem has
// rho = infinity on both sides; a finite rho relaxes that marginal (unbalanced,
// or semi-relaxed when only one side is finite).
//
// Epsilon semantics: `epsilon` is absolute when `epsilon_mode` is kAbsolute,
// and a multiple of the mean ground cost over all pairs when kRelative
// (the default, so one value works for any feature scale). The result
// reports the absolute value used.
//
// Sharding: each rank passes its own rows of X (and their weights a); Y and b
// are replicated. Per iteration a rank updates its f locally in one fused
// pass over its cost rows that also accumulates the column sums of the new
// plan, stabilised by the current g (so every summand is at most 1 and the
// sums cannot overflow); one all-reduce of m + 1 doubles combines them. A
// column whose stabilised sum underflows is recomputed as an exact
// log-sum-exp with max and sum all-reduces. Results agree across rank counts
// to floating-point tolerance.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "comm/communicator.h"
#include "ot/ground_cost.h"
#include "ot/point_cloud.h"

namespace taskrel::ot {

enum class EpsilonMode { kRelative, kAbsolute };

struct SinkhornOptions {
  double epsilon = 0.05;                     // see EpsilonMode
  EpsilonMode epsilon_mode = EpsilonMode::kRelative;
  double tolerance = 1e-6;                   // L1 marginal error to stop at
  int max_iterations = 2000;                 // at the target epsilon
  // Anneal epsilon from the largest cost down to the target, warm-starting
  // each stage. Off by default: measured here it saved no iterations at
  // epsilon >= 0.003 x mean cost, and on near-identical clouds it left
  // potentials from which the target stage converged 1000x slower.
  bool epsilon_scaling = false;
  double scaling_factor = 0.5;               // epsilon multiplier per stage
  int iterations_per_stage = 10;             // cap for the annealing stages
  double rho_source = std::numeric_limits<double>::infinity();  // KL penalty on a
  double rho_target = std::numeric_limits<double>::infinity();  // KL penalty on b
  GroundCost cost = GroundCost::kEuclidean;
  Precision precision = Precision::kFloat32;
  std::int64_t memory_budget_bytes = std::int64_t{4} << 30;  // per rank, for the stored block
};

// Potentials of a previous solve, used to warm-start. f holds this rank's rows.
struct Potentials {
  std::vector<double> f;
  std::vector<double> g;
};

struct SinkhornResult {
  double transport_cost = 0.0;   // <P, C>
  double objective = 0.0;        // the entropic objective above at the returned plan
  double epsilon = 0.0;          // absolute epsilon used
  double mean_cost = 0.0;        // mean of C over all pairs (uniform)
  double max_cost = 0.0;
  double marginal_error = 0.0;   // L1 error of the row marginal (balanced), or of the
                                 // fixed-point update (unbalanced), at the returned plan
  double transported_mass = 0.0; // sum of P (1 for balanced problems)
  int iterations = 0;            // all iterations, annealing stages included
  int stages = 0;                // epsilon values visited
  bool converged = false;
  bool cost_stored = false;      // cost block kept in memory (else recomputed)
  int exact_column_fallbacks = 0;
  double setup_seconds = 0.0;      // cost block and its statistics
  double iteration_seconds = 0.0;  // all Sinkhorn iterations
  Potentials potentials;         // f: this rank's rows; g: all columns
};

// Solves the problem between this rank's rows x_local (weights a_local) and
// the replicated y (weights b). Weights must be positive (callers drop
// zero-weight points). Balanced problems normalise both to total mass 1 over
// all ranks; relaxed ones keep the masses given.
// All ranks of `comm` must call this collectively with the same options.
SinkhornResult solve_sinkhorn(Communicator& comm, PointCloudView x_local,
                              const std::vector<double>& a_local, PointCloudView y,
                              const std::vector<double>& b, const SinkhornOptions& options,
                              const Potentials* warm_start = nullptr);

}  // namespace taskrel::ot
