// Label-aware optimal transport: W_d of DESIGN.md section 1.5.
//
// With ground cost c(z, z') + inf * 1[y != y'], transport never crosses
// labels, so the problem splits into one OT problem per target class k: the
// (transformed) reference points, point i carrying mass w_ik = w_i B_{k, y_i},
// against the target points of class k. Each class problem is solved with its
// masses normalised; the result is weighted by the target class prior P_T(k),
// and the mass mismatch ||P_T - B D||_1 = sum_k |P_T(k) - sum_i w_ik| is
// reported beside it. Points whose weight for a class is zero are left out of
// that class's problem.
#pragma once

#include <cstdint>
#include <vector>

#include "comm/communicator.h"
#include "ot/sinkhorn.h"

namespace taskrel::ot {

struct LabelAwareProblem {
  PointCloudView x_local;                // this rank's reference points
  std::vector<double> class_weights;     // x_local.rows x num_classes, row-major, >= 0
  PointCloudView y;                      // target points, replicated on every rank
  std::vector<std::int64_t> y_labels;    // in [0, num_classes)
  std::vector<double> y_weights;         // empty: uniform
  int num_classes = 0;
};

struct ClassTransport {
  int target_class = 0;
  bool solved = false;          // false when either side of the class has no mass
  double source_mass = 0.0;     // sum_i w_ik over all ranks
  double target_mass = 0.0;     // P_T(k)
  std::vector<std::int64_t> source_rows;  // local rows taking part (indices into x_local)
  std::vector<std::int64_t> target_rows;  // rows of y in this class
  SinkhornResult transport;     // potentials indexed like source_rows / target_rows
};

struct LabelAwareResult {
  std::vector<ClassTransport> classes;
  double distance = 0.0;        // sum_k P_T(k) * transport_cost_k
  double mass_mismatch = 0.0;   // ||P_T - B D||_1
  bool converged = true;        // every solved class converged
  int iterations = 0;           // summed over classes
};

// Collective over `comm`. warm_start, when given, holds one Potentials per
// class from a previous call with the same rows taking part.
LabelAwareResult solve_label_aware(Communicator& comm, const LabelAwareProblem& problem,
                                   const SinkhornOptions& options,
                                   const std::vector<Potentials>* warm_start = nullptr);

}  // namespace taskrel::ot
