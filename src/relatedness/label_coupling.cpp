#include "relatedness/label_coupling.h"

#include <cmath>

namespace taskrel::relatedness {

Eigen::MatrixXd coupling_of(const Eigen::MatrixXd& logits, const Eigen::VectorXd& target_prior) {
  Eigen::MatrixXd pi(logits.rows(), logits.cols());
  for (Eigen::Index k = 0; k < logits.rows(); ++k) {
    const Eigen::RowVectorXd shifted = logits.row(k).array() - logits.row(k).maxCoeff();
    const Eigen::RowVectorXd e = shifted.array().exp();
    pi.row(k) = target_prior[k] * e / e.sum();
  }
  return pi;
}

Eigen::VectorXd reweighted_prior(const Eigen::MatrixXd& coupling) { return coupling.colwise().sum().transpose(); }

Eigen::MatrixXd label_map(const Eigen::MatrixXd& coupling) {
  const Eigen::VectorXd d = reweighted_prior(coupling);
  Eigen::MatrixXd b = coupling;
  for (Eigen::Index j = 0; j < b.cols(); ++j) b.col(j) /= d[j] > 0 ? d[j] : 1.0;
  return b;
}

double label_mismatch(const Eigen::MatrixXd& coupling) {
  const Eigen::MatrixXd b = label_map(coupling);
  double h = 0.0;
  for (Eigen::Index k = 0; k < coupling.rows(); ++k)
    for (Eigen::Index j = 0; j < coupling.cols(); ++j)
      if (coupling(k, j) > 0 && b(k, j) > 0) h -= coupling(k, j) * std::log(b(k, j));
  return h;
}

Eigen::MatrixXd coupling_gradient(const Eigen::MatrixXd& coupling, const Eigen::VectorXd& class_losses, double tau,
                                  const Eigen::MatrixXd& dual_means) {
  const Eigen::MatrixXd b = label_map(coupling);
  Eigen::MatrixXd g = tau * dual_means;
  for (Eigen::Index k = 0; k < g.rows(); ++k)
    for (Eigen::Index j = 0; j < g.cols(); ++j) g(k, j) += class_losses[j] - std::log(std::max(b(k, j), 1e-300));
  return g;
}

}  // namespace taskrel::relatedness
