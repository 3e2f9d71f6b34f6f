#include "baselines/statistics.h"

#include <cmath>

#include <spdlog/spdlog.h>

namespace taskrel::baselines {

Eigen::VectorXd column_means(const Matrix& x) {
  if (x.rows() == 0) return Eigen::VectorXd::Zero(x.cols());
  return x.colwise().mean().transpose();
}

Matrix centred(const Matrix& x) { return x.rowwise() - column_means(x).transpose(); }

Matrix class_means(const Matrix& x, const Labels& labels, std::int64_t classes) {
  Matrix means = Matrix::Zero(classes, x.cols());
  const auto sizes = class_sizes(labels, classes);
  for (Eigen::Index i = 0; i < x.rows(); ++i) means.row(labels[i]) += x.row(i);
  for (std::int64_t c = 0; c < classes; ++c)
    if (sizes[c] > 0) means.row(c) /= static_cast<double>(sizes[c]);
  return means;
}

std::vector<std::int64_t> class_sizes(const Labels& labels, std::int64_t classes) {
  std::vector<std::int64_t> sizes(classes, 0);
  for (auto y : labels) ++sizes[y];
  return sizes;
}

Matrix scatter(const Matrix& centred_rows) {
  const double n = std::max<double>(1.0, static_cast<double>(centred_rows.rows()));
  return (centred_rows.transpose() * centred_rows) / n;
}

Matrix symmetric_pseudo_inverse(const Matrix& symmetric, double relative_cutoff) {
  Eigen::SelfAdjointEigenSolver<Matrix> eigen(symmetric);
  const Eigen::VectorXd& values = eigen.eigenvalues();
  const double largest = values.cwiseAbs().maxCoeff();
  Eigen::VectorXd inverse = Eigen::VectorXd::Zero(values.size());
  for (Eigen::Index i = 0; i < values.size(); ++i)
    if (std::abs(values[i]) > relative_cutoff * largest) inverse[i] = 1.0 / values[i];
  return eigen.eigenvectors() * inverse.asDiagonal() * eigen.eigenvectors().transpose();
}

double log_det_identity_plus(const Matrix& x, double c) {
  // det(I_d + c X^T X) = det(I_n + c X X^T) (Sylvester): factor the smaller.
  const Matrix gram = x.rows() < x.cols() ? Matrix(x * x.transpose()) : Matrix(x.transpose() * x);
  Matrix m = c * gram;
  m.diagonal().array() += 1.0;
  Eigen::LLT<Matrix> cholesky(m);
  if (cholesky.info() != Eigen::Success) {
    // I + c*PSD is positive definite; only rounding can get here.
    Eigen::SelfAdjointEigenSolver<Matrix> eigen(m, Eigen::EigenvaluesOnly);
    return eigen.eigenvalues().array().max(1.0).log().sum();
  }
  return 2.0 * cholesky.matrixLLT().diagonal().array().log().sum();
}

Matrix softmax_rows(const Matrix& logits) {
  Matrix p = logits.colwise() - logits.rowwise().maxCoeff();
  p = p.array().exp();
  p.array().colwise() /= p.rowwise().sum().array();
  return p;
}

void warn_degenerate(const char* metric, const std::string& what) { spdlog::warn("{}: {}", metric, what); }

}  // namespace taskrel::baselines
