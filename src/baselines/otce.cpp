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
// `max_points_per_side` rows (core/stratified_sampling.h), deterministic for the seed.
#include <algorithm>
#include <cmath>
#include <random>

#include "core/stratified_sampling.h"
#include "baselines/estimators.h"
#include "ot/exact_emd.h"

namespace taskrel::baselines {
namespace {

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
  const auto reference_rows = stratified_sample(reference_labels, reference_classes, max_points_per_side, rng);
  const auto target_rows = stratified_sample(target_labels, target_classes, max_points_per_side, rng);
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

}  // namespace taskrel::baselines
