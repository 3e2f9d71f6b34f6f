#include "ot/label_aware.h"

#include <cmath>

#include "core/error.h"

namespace taskrel::ot {

LabelAwareResult solve_label_aware(Communicator& comm, const LabelAwareProblem& problem,
                                   const SinkhornOptions& options,
                                   const std::vector<Potentials>* warm_start) {
  const int classes = problem.num_classes;
  const std::int64_t n = problem.x_local.rows;
  const std::int64_t m = problem.y.rows;
  const std::int64_t dim = problem.y.dim;
  TASKREL_ASSERT(classes > 0, "label-aware OT needs at least one class");
  TASKREL_ASSERT(static_cast<std::int64_t>(problem.class_weights.size()) == n * classes,
                 "{} class weights for {} rows x {} classes", problem.class_weights.size(), n, classes);
  TASKREL_ASSERT(static_cast<std::int64_t>(problem.y_labels.size()) == m, "{} labels for {} rows",
                 problem.y_labels.size(), m);
  TASKREL_ASSERT(problem.y_weights.empty() || static_cast<std::int64_t>(problem.y_weights.size()) == m,
                 "{} target weights for {} rows", problem.y_weights.size(), m);
  TASKREL_ASSERT(warm_start == nullptr || static_cast<int>(warm_start->size()) == classes,
                 "{} warm starts for {} classes", warm_start ? warm_start->size() : 0, classes);

  // Target class priors P_T(k).
  std::vector<double> target_weight(m);
  double target_total = 0.0;
  for (std::int64_t j = 0; j < m; ++j) {
    target_weight[j] = problem.y_weights.empty() ? 1.0 : problem.y_weights[j];
    target_total += target_weight[j];
  }

  // Global source mass per class: one all-reduce for all classes.
  std::vector<double> source_mass(classes, 0.0);
  for (std::int64_t i = 0; i < n; ++i)
    for (int k = 0; k < classes; ++k) {
      const double w = problem.class_weights[i * classes + k];
      TASKREL_ASSERT(w >= 0 && std::isfinite(w), "class weight {} of row {} class {} is not >= 0", w, i, k);
      source_mass[k] += w;
    }
  comm.all_reduce(source_mass.data(), source_mass.size(), ReduceOp::kSum);

  LabelAwareResult result;
  result.classes.resize(classes);
  for (int k = 0; k < classes; ++k) {
    ClassTransport& out = result.classes[k];
    out.target_class = k;
    out.source_mass = source_mass[k];

    std::vector<float> target_points;
    std::vector<double> target_masses;
    for (std::int64_t j = 0; j < m; ++j) {
      const std::int64_t label = problem.y_labels[j];
      TASKREL_ASSERT(label >= 0 && label < classes, "target label {} outside [0, {})", label, classes);
      if (label != k || target_weight[j] <= 0) continue;
      out.target_rows.push_back(j);
      target_masses.push_back(target_weight[j]);
      out.target_mass += target_weight[j] / target_total;
      target_points.insert(target_points.end(), problem.y.row(j), problem.y.row(j) + dim);
    }
    result.mass_mismatch += std::abs(out.target_mass - out.source_mass);

    std::vector<float> source_points;
    std::vector<double> source_masses;
    for (std::int64_t i = 0; i < n; ++i) {
      const double w = problem.class_weights[i * classes + k];
      if (w <= 0) continue;
      out.source_rows.push_back(i);
      source_masses.push_back(w);
      source_points.insert(source_points.end(), problem.x_local.row(i), problem.x_local.row(i) + dim);
    }
    if (!(out.source_mass > 0) || target_masses.empty()) continue;  // nothing to transport

    const PointCloudView x_class{source_points.data(), static_cast<std::int64_t>(source_masses.size()), dim};
    const PointCloudView y_class{target_points.data(), static_cast<std::int64_t>(target_masses.size()), dim};
    const Potentials* start = warm_start ? &(*warm_start)[k] : nullptr;
    if (warm_start) {
      // Warm start only if every rank's rows still match; the choice must be
      // the same on all ranks, since it changes the sequence of collectives.
      double usable = (start->f.size() == source_masses.size() && start->g.size() == target_masses.size()) ? 1 : 0;
      comm.all_reduce(&usable, 1, ReduceOp::kMin);
      if (usable == 0) start = nullptr;
    }
    out.transport = solve_sinkhorn(comm, x_class, source_masses, y_class, target_masses, options, start);
    out.solved = true;
    result.distance += out.target_mass * out.transport.transport_cost;
    result.converged = result.converged && out.transport.converged;
    result.iterations += out.transport.iterations;
  }
  return result;
}

}  // namespace taskrel::ot
