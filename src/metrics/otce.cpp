// OTCE — Tan, Li & Huang, "OTCE: A Transferability Metric for Cross-Domain
// Cross-Task Representations", CVPR 2021, and OT-NCE — Tan, Li & Huang,
// "Practical Transferability Estimation for Image Classification Tasks",
// arXiv 2106.10479 (2021). Both higher = more transferable.
//
// The coupling: exact EMD (ot/exact_emd.h, network simplex) between the
// reference and the target features with uniform masses and the squared
// euclidean cost of the authors' code. The joint label distribution is
// P(r, t) = sum of the coupling over reference rows of class r and target
// rows of class t, and H_CE = H(Y_T | Y_R) = -sum P(r, t) log(P(r, t) / P(r)).
// OTCE proper is lambda1 W + lambda2 H_CE + lambda3 with weights fitted by
// regression on auxiliary transfer tasks; the paper publishes no general
// weights, so we report the auxiliary-free score -H_CE (as the authors'
// follow-up F-OTCE does) for `otce`, and `ot_nce` = -H_CE likewise: with this
// ground cost the two coincide; W is returned beside them for inspection.
// Large tasks: each side is capped at a stratified subsample of
// `max_points_per_side` rows, deterministic for the seed.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "metrics/estimators.h"
#include "ot/exact_emd.h"

namespace taskrel::metrics {
namespace {

// Sorted row indices: all rows, or per class its share of `cap` (>= 1).
std::vector<std::int64_t> stratified_rows(const Labels& labels, std::int64_t classes, std::int64_t cap,
                                          std::mt19937_64& rng) {
  const auto n = static_cast<std::int64_t>(labels.size());
  std::vector<std::int64_t> rows;
  if (n <= cap) {
    rows.resize(n);
    std::iota(rows.begin(), rows.end(), 0);
    return rows;
  }
  std::vector<std::vector<std::int64_t>> by_class(classes);
  for (std::int64_t i = 0; i < n; ++i) by_class[labels[i]].push_back(i);
  for (auto& members : by_class) {
    if (members.empty()) continue;
    const auto share = std::max<std::int64_t>(
        1, std::llround(static_cast<double>(cap) * static_cast<double>(members.size()) / static_cast<double>(n)));
    // Partial Fisher-Yates with an explicit draw, so every platform picks the same rows.
    for (std::int64_t j = 0; j < std::min<std::int64_t>(share, members.size()); ++j) {
      const auto remaining = static_cast<std::uint64_t>(members.size() - j);
      std::swap(members[j], members[j + static_cast<std::int64_t>(rng() % remaining)]);
      rows.push_back(members[j]);
    }
  }
  std::sort(rows.begin(), rows.end());
  return rows;
}

std::vector<float> float_rows(const Matrix& x, const std::vector<std::int64_t>& rows) {
  std::vector<float> values(rows.size() * x.cols());
  for (std::size_t r = 0; r < rows.size(); ++r)
    for (Eigen::Index c = 0; c < x.cols(); ++c) values[r * x.cols() + c] = static_cast<float>(x(rows[r], c));
  return values;
}

}  // namespace

OtConditionalEntropy ot_conditional_entropy(const Matrix& reference_features, const Labels& reference_labels,
                                            std::int64_t reference_classes, const Matrix& target_features,
                                            const Labels& target_labels, std::int64_t target_classes,
                                            std::int64_t max_points_per_side, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  const auto reference_rows = stratified_rows(reference_labels, reference_classes, max_points_per_side, rng);
  const auto target_rows = stratified_rows(target_labels, target_classes, max_points_per_side, rng);
  const auto reference_points = float_rows(reference_features, reference_rows);
  const auto target_points = float_rows(target_features, target_rows);
  const auto d = reference_features.cols();
  const std::vector<double> a(reference_rows.size(), 1.0), b(target_rows.size(), 1.0);
  const ot::ExactEmdResult emd =
      ot::solve_exact_emd(ot::view_of(reference_points, static_cast<std::int64_t>(reference_rows.size()), d), a,
                          ot::view_of(target_points, static_cast<std::int64_t>(target_rows.size()), d), b,
                          ot::GroundCost::kSquaredEuclidean);
  Matrix joint = Matrix::Zero(reference_classes, target_classes);
  for (const auto& entry : emd.plan)
    joint(reference_labels[reference_rows[entry.source]], target_labels[target_rows[entry.target]]) += entry.mass;
  joint /= joint.sum();
  const Eigen::VectorXd reference_marginal = joint.rowwise().sum();
  double entropy = 0.0;
  for (std::int64_t r = 0; r < reference_classes; ++r)
    for (std::int64_t t = 0; t < target_classes; ++t)
      if (joint(r, t) > 0) entropy -= joint(r, t) * std::log(joint(r, t) / reference_marginal[r]);
  OtConditionalEntropy result;
  result.wasserstein = emd.cost;
  result.conditional_entropy = std::max(0.0, entropy);
  result.reference_points = static_cast<std::int64_t>(reference_rows.size());
  result.target_points = static_cast<std::int64_t>(target_rows.size());
  return result;
}

}  // namespace taskrel::metrics
