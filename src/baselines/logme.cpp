// LogME — You, Liu, Wang & Long, "LogME: Practical Assessment of Pre-trained
// Models for Transfer Learning", ICML 2021. Higher = more transferable.
//
// Per target class k a Bayesian linear regression of the indicator 1[y = k]
// on the features F with prior precision alpha and noise precision beta; the
// log evidence is maximised by the paper's fixed-point updates (Algorithm 1)
// gamma = sum s_i beta/(alpha + beta s_i), alpha = gamma / (m^T m),
// beta = (n - gamma) / ||y - F m||^2, from alpha = beta = 1, at most 11 rounds,
// stopping when lambda = alpha/beta changes by less than 1% (relative), as the
// authors' released code does. The score is the evidence divided by n,
// averaged over classes. The eigen-decomposition of F^T F is taken through
// the smaller of F^T F and F F^T, so d > n costs O(n^2 d).
#include <cmath>

#include "baselines/estimators.h"
#include "baselines/statistics.h"

namespace taskrel::baselines {

double logme(const Matrix& features, const Labels& labels, std::int64_t classes) {
  const Eigen::Index n = features.rows(), d = features.cols();
  // The non-zero spectrum s of F^T F and F V (n x r), V its eigenvectors.
  Eigen::VectorXd s;
  Matrix projected;
  if (d <= n) {
    Eigen::SelfAdjointEigenSolver<Matrix> eigen(features.transpose() * features);
    s = eigen.eigenvalues().cwiseMax(0.0);
    projected = features * eigen.eigenvectors();
  } else {
    // F F^T = U S U^T; the matching unit eigenvectors of F^T F are F^T u / sqrt(s).
    Eigen::SelfAdjointEigenSolver<Matrix> eigen(features * features.transpose());
    s = eigen.eigenvalues().cwiseMax(0.0);
    projected = eigen.eigenvectors() * s.cwiseSqrt().asDiagonal();
  }
  const double zero_directions = static_cast<double>(d - s.size());  // eigenvalue 0 of F^T F
  const double nd = static_cast<double>(n);
  double total = 0.0;
  for (std::int64_t k = 0; k < classes; ++k) {
    Eigen::VectorXd y(n);
    for (Eigen::Index i = 0; i < n; ++i) y[i] = labels[i] == k ? 1.0 : 0.0;
    const Eigen::VectorXd projected_y = projected.transpose() * y;  // V^T F^T y
    double alpha = 1.0, beta = 1.0, lambda = 1.0;
    double alpha_denominator = 0.0, beta_denominator = 0.0;
    for (int round = 0; round < 11; ++round) {
      const double gamma = (s.array() / (s.array() + lambda)).sum();
      const Eigen::VectorXd m = projected_y.array() * beta / (alpha + beta * s.array());  // in the eigenbasis
      alpha_denominator = m.squaredNorm();
      alpha = gamma / (alpha_denominator + 1e-5);
      beta_denominator = (y - projected * m).squaredNorm();
      beta = (nd - gamma) / (beta_denominator + 1e-5);
      const double new_lambda = alpha / beta;
      if (std::abs(new_lambda - lambda) / lambda < 0.01) break;
      lambda = new_lambda;
    }
    const double evidence = static_cast<double>(d) / 2.0 * std::log(alpha) + nd / 2.0 * std::log(beta) -
                            0.5 * ((alpha + beta * s.array()).log().sum() + zero_directions * std::log(alpha)) -
                            beta / 2.0 * beta_denominator - alpha / 2.0 * alpha_denominator -
                            nd / 2.0 * std::log(2.0 * M_PI);
    total += evidence / nd;
  }
  return total / static_cast<double>(classes);
}

}  // namespace taskrel::baselines
