// GBC — Pándy, Agostinelli, Uijlings, Ferrari & Mensink, "Transferability
// Estimation using Bhattacharyya Class Separability", CVPR 2022, spherical
// variant. Higher = more transferable (GBC <= 0; 0 when classes do not overlap).
//
// Each target class c is a Gaussian N(mu_c, s_c I) with mu_c the class mean and
// s_c the mean over dimensions of the per-dimension (1/n_c) variance.
// GBC = -sum_{i != j} BC(c_i, c_j), BC = exp(-D_B) with the Bhattacharyya
// distance of the paper, D_B = 1/8 (mu_i - mu_j)^T S^-1 (mu_i - mu_j) +
// 1/2 ln(det S / sqrt(det S_i det S_j)), S = (S_i + S_j) / 2, which for
// spherical Gaussians in d dimensions is ||mu_i - mu_j||^2 / (8 s) +
// d/2 ln(s / sqrt(s_i s_j)), s = (s_i + s_j) / 2. (The authors' code drops the
// factor d in the second term; we follow the formula.) The paper's optional
// PCA to 64 dimensions is not applied: relate's standardised features are used.
// A class with zero variance (one sample, or identical rows) gets the floor
// 1e-12 x the largest class variance (1e-12 if all are zero), with a warning.
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "baselines/estimators.h"
#include "baselines/statistics.h"

namespace taskrel::baselines {

double gbc(const Matrix& features, const Labels& labels, std::int64_t classes) {
  const Matrix means = class_means(features, labels, classes);
  const auto sizes = class_sizes(labels, classes);
  const double d = static_cast<double>(features.cols());
  std::vector<double> variance(classes, 0.0);
  for (Eigen::Index i = 0; i < features.rows(); ++i)
    variance[labels[i]] += (features.row(i) - means.row(labels[i])).squaredNorm();
  for (std::int64_t c = 0; c < classes; ++c) variance[c] /= static_cast<double>(sizes[c]) * d;
  const double largest = *std::max_element(variance.begin(), variance.end());
  const double floor = largest > 0 ? 1e-12 * largest : 1e-12;
  for (std::int64_t c = 0; c < classes; ++c)
    if (variance[c] < floor) {
      warn_degenerate("gbc", fmt::format("target class {} has zero variance ({} sample(s)); variance floored at {:g}", c,
                                         sizes[c], floor));
      variance[c] = floor;
    }
  double total = 0.0;
  for (std::int64_t i = 0; i < classes; ++i)
    for (std::int64_t j = 0; j < classes; ++j) {
      if (i == j) continue;
      const double s = 0.5 * (variance[i] + variance[j]);
      const double distance = (means.row(i) - means.row(j)).squaredNorm() / (8.0 * s) +
                              0.5 * d * (std::log(s) - 0.5 * (std::log(variance[i]) + std::log(variance[j])));
      total += std::exp(-distance);
    }
  return -total;
}

}  // namespace taskrel::baselines
