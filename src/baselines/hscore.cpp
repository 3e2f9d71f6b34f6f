// H-score — Bao, Li, Huang, Zhang, Zheng & Tan, "An Information-Theoretic
// Approach to Transferability in Task Transfer Learning", ICIP 2019, and the
// shrinkage H-score — Ibrahim, Ponomareva & Mazumder, "Newer is not always
// better: Rethinking transferability metrics, their peculiarities,
// stability and performance", ECML-PKDD 2022. Higher = more transferable.
//
// H(f) = tr(cov(f)^+ cov(E[f | y])) with the pseudo-inverse (eigenvalues below
// 1e-10 of the largest dropped: d > n and rank-deficient features give the
// score on the features' span). The shrinkage H-score replaces cov(f) by the
// Ledoit-Wolf estimate (1 - a) S + a mu I (a and mu exactly as
// sklearn.covariance.LedoitWolf) and cov(E[f|y]) by (1 - a) cov(E[f|y]).
// Both covariances are the 1/n (biased) ones, the normalisation LedoitWolf
// uses, so the two factors agree.
#include <algorithm>

#include "baselines/estimators.h"
#include "baselines/statistics.h"

namespace taskrel::baselines {
namespace {

// Centred features and the centred class-conditional means, row by row.
std::pair<Matrix, Matrix> centred_and_class_means(const Matrix& features, const Labels& labels, std::int64_t classes) {
  Matrix f = centred(features);
  const Matrix means = class_means(f, labels, classes);
  Matrix g(f.rows(), f.cols());
  for (Eigen::Index i = 0; i < f.rows(); ++i) g.row(i) = means.row(labels[i]);
  return {std::move(f), std::move(g)};
}

}  // namespace

double hscore(const Matrix& features, const Labels& labels, std::int64_t classes) {
  auto [f, g] = centred_and_class_means(features, labels, classes);
  const Matrix cov_f = scatter(f);
  if (cov_f.trace() <= 0) {
    warn_degenerate("hscore", "the target features are constant; H-score set to 0");
    return 0.0;
  }
  return (symmetric_pseudo_inverse(cov_f) * scatter(g)).trace();
}

double shrinkage_hscore(const Matrix& features, const Labels& labels, std::int64_t classes) {
  auto [f, g] = centred_and_class_means(features, labels, classes);
  const double n = static_cast<double>(f.rows()), p = static_cast<double>(f.cols());
  const Matrix s = scatter(f);
  const double mu = s.trace() / p;
  if (!(mu > 0)) {
    warn_degenerate("shrinkage_hscore", "the target features are constant; score set to 0");
    return 0.0;
  }
  // Ledoit & Wolf (2004), in the form sklearn.covariance.ledoit_wolf_shrinkage computes.
  const Matrix squared = f.array().square().matrix();
  const double beta_sum = (squared.transpose() * squared).sum();  // sum_i ||f_i||^4
  const double delta_sum = s.squaredNorm();                        // ||S||_F^2
  double delta = (delta_sum - 2.0 * mu * s.trace() + p * mu * mu) / p;
  double beta = (beta_sum / n - delta_sum) / (p * n);
  beta = std::min(beta, delta);
  const double shrinkage = beta == 0.0 ? 0.0 : beta / delta;
  Matrix shrunk = (1.0 - shrinkage) * s;
  shrunk.diagonal().array() += shrinkage * mu;
  return (symmetric_pseudo_inverse(shrunk) * ((1.0 - shrinkage) * scatter(g))).trace();
}

}  // namespace taskrel::baselines
