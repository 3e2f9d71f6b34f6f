// LEEP — Nguyen, Hassner, Seeger & Archambeau, "LEEP: A New Measure to
// Evaluate Transferability of Learned Representations", ICML 2020. Higher =
// more transferable (it is an average log-likelihood, <= 0).
//
// theta(x_i) = the source model's class probabilities on target point i;
// P(y, z) = (1/n) sum_{i: y_i = y} theta(x_i)_z, P(y | z) = P(y, z) / P(z), and
// LEEP = (1/n) sum_i log sum_z P(y_i | z) theta(x_i)_z — with the log, as
// published (some code drops it).
#include <algorithm>
#include <cmath>

#include "baselines/estimators.h"

namespace taskrel::baselines {

double leep(const Matrix& probabilities, const Labels& labels, std::int64_t classes) {
  const Eigen::Index n = probabilities.rows(), source_classes = probabilities.cols();
  Matrix joint = Matrix::Zero(classes, source_classes);
  for (Eigen::Index i = 0; i < n; ++i) joint.row(labels[i]) += probabilities.row(i);
  joint /= static_cast<double>(n);
  const Eigen::RowVectorXd marginal = joint.colwise().sum();
  Matrix conditional = Matrix::Zero(classes, source_classes);  // P(y | z); 0 where P(z) = 0
  for (Eigen::Index z = 0; z < source_classes; ++z)
    if (marginal[z] > 0) conditional.col(z) = joint.col(z) / marginal[z];
  double total = 0.0;
  for (Eigen::Index i = 0; i < n; ++i) {
    const double expected = conditional.row(labels[i]).dot(probabilities.row(i));
    // expected >= theta_iz^2 / (n P(z)) > 0 for the z with the largest theta_iz;
    // the floor only guards underflow.
    total += std::log(std::max(expected, 1e-300));
  }
  return total / static_cast<double>(n);
}

}  // namespace taskrel::baselines
