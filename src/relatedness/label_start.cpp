#include "relatedness/label_start.h"

#include <cmath>

#include "relatedness/assignment.h"
#include "relatedness/transferred_classifier.h"

namespace taskrel::relatedness {

namespace {
constexpr double kSmoothing = 1e-3;
constexpr double kExcluded = -40.0;  // a logit whose softmax weight is ~4e-18: the class is not used
}  // namespace

LabelStart match_labels(const TaskData& reference, const Split& target, const std::vector<std::int64_t>& target_labels,
                        std::int64_t kt) {
  const std::int64_t kr = reference.num_classes, d = reference.dim;
  const Eigen::MatrixXd zr = as_double(reference.train.z.data(), reference.train.rows, d);
  Eigen::MatrixXd means = Eigen::MatrixXd::Zero(kr, d);
  Eigen::VectorXd counts = Eigen::VectorXd::Zero(kr);
  for (std::int64_t i = 0; i < reference.train.rows; ++i) {
    means.row(reference.train.y[i]) += zr.row(i);
    counts[reference.train.y[i]] += 1;
  }
  for (std::int64_t j = 0; j < kr; ++j) means.row(j) /= std::max(counts[j], 1.0);
  const Eigen::MatrixXd zt = as_double(target.z.data(), target.rows, d);
  LabelStart start;
  start.counts = Eigen::MatrixXd::Zero(kt, kr);
  for (std::int64_t i = 0; i < target.rows; ++i) {
    Eigen::Index nearest = 0;
    (means.rowwise() - zt.row(i)).rowwise().squaredNorm().minCoeff(&nearest);
    start.counts(target_labels[i], nearest) += 1.0;
  }
  if (kt == kr) {
    std::vector<double> cost(static_cast<std::size_t>(kr * kr));
    for (std::int64_t j = 0; j < kr; ++j)
      for (std::int64_t k = 0; k < kr; ++k) cost[j * kr + k] = -start.counts(k, j);
    const auto match = solve_assignment(cost, static_cast<int>(kr));
    start.permutation.assign(match.begin(), match.end());
  }
  return start;
}

Eigen::MatrixXd fixed_coupling_logits(const LabelStart& start) {
  const Eigen::Index kt = start.counts.rows(), kr = start.counts.cols();
  Eigen::MatrixXd logits(kt, kr);
  if (!start.permutation.empty()) {
    logits.setConstant(kExcluded);
    for (Eigen::Index j = 0; j < kr; ++j) logits(start.permutation[j], j) = 0.0;
    return logits;
  }
  for (Eigen::Index k = 0; k < kt; ++k)
    for (Eigen::Index j = 0; j < kr; ++j) logits(k, j) = std::log(start.counts(k, j) + kSmoothing);
  return logits;
}

Eigen::MatrixXd fixed_label_map(const LabelStart& start) {
  const Eigen::Index kt = start.counts.rows(), kr = start.counts.cols();
  Eigen::MatrixXd b = Eigen::MatrixXd::Zero(kt, kr);
  if (!start.permutation.empty()) {
    for (Eigen::Index j = 0; j < kr; ++j) b(start.permutation[j], j) = 1.0;
    return b;
  }
  b = start.counts.array() + kSmoothing;
  for (Eigen::Index j = 0; j < kr; ++j) b.col(j) /= b.col(j).sum();
  return b;
}

}  // namespace taskrel::relatedness
