#include "relatedness/transferred_classifier.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "relatedness/label_coupling.h"

namespace taskrel::relatedness {

Transformation identity_transformation(std::int64_t dim, const Eigen::MatrixXd& coupling_logits) {
  Transformation t;
  t.A = Eigen::MatrixXd::Identity(dim, dim);
  t.Abar = t.A;
  t.b = Eigen::VectorXd::Zero(dim);
  t.coupling_logits = coupling_logits;
  return t;
}

Eigen::MatrixXd label_coupling(const Transformation& t, const Eigen::VectorXd& target_prior) {
  if (t.constrained()) return coupling_of(t.coupling_logits, target_prior);
  Eigen::MatrixXd pi = t.B;
  for (Eigen::Index j = 0; j < pi.cols(); ++j) pi.col(j) *= t.D[j];
  return pi;
}

HeadMatrices head_matrices(const LinearHead& head) {
  HeadMatrices m;
  m.W = as_double(head.weight.data(), head.classes, head.dim);
  m.c = Eigen::Map<const Eigen::VectorXf>(head.bias.data(), head.classes).cast<double>();
  return m;
}

Eigen::MatrixXd as_double(const float* data, std::int64_t rows, std::int64_t cols) {
  return Eigen::Map<const RowMatrixF>(data, rows, cols).cast<double>();
}

Eigen::MatrixXd losses_in_reference_space(const HeadMatrices& head, const Eigen::MatrixXd& B,
                                          const Eigen::MatrixXd& inputs) {
  Eigen::MatrixXd logits = inputs * head.W.transpose();
  logits.rowwise() += head.c.transpose();
  // softmax row by row, stabilised by the row maximum
  const Eigen::VectorXd top = logits.rowwise().maxCoeff();
  Eigen::MatrixXd p = (logits.colwise() - top).array().exp().matrix();
  p.array().colwise() /= p.rowwise().sum().array();
  const Eigen::MatrixXd q = p * B.transpose();  // rows x K_T
  return -(q.array().max(1e-300)).log().matrix();
}

Eigen::MatrixXd to_reference_space(const Transformation& t, const Eigen::MatrixXd& target_points) {
  return (target_points.rowwise() - t.b.transpose()) * t.Abar.transpose();
}

Eigen::MatrixXd to_target_space(const Transformation& t, const Eigen::MatrixXd& reference_points) {
  return (reference_points * t.A.transpose()).rowwise() + t.b.transpose();
}

Eigen::VectorXd head_class_losses(const HeadMatrices& head, const float* z, const std::vector<std::int64_t>& y,
                                  std::int64_t rows, std::int64_t dim, std::int64_t classes) {
  const Eigen::MatrixXd identity = Eigen::MatrixXd::Identity(classes, classes);
  const Eigen::MatrixXd losses = losses_in_reference_space(head, identity, as_double(z, rows, dim));
  Eigen::VectorXd sum = Eigen::VectorXd::Zero(classes), count = Eigen::VectorXd::Zero(classes);
  for (std::int64_t i = 0; i < rows; ++i) {
    sum[y[i]] += losses(i, y[i]);
    count[y[i]] += 1;
  }
  return sum.array() / count.array().max(1.0);
}

GlobalLipschitz global_lipschitz(const HeadMatrices& head, const Eigen::MatrixXd& Abar) {
  const Eigen::MatrixXd V = head.W * Abar;  // rows: (Abar^T w_j)^T
  GlobalLipschitz out;
  for (Eigen::Index j = 0; j < V.rows(); ++j)
    for (Eigen::Index k = j + 1; k < V.rows(); ++k) {
      const double norm = (V.row(j) - V.row(k)).norm();
      if (norm > out.tau) out = {norm, j, k};
    }
  return out;
}

double largest_gradient_norm(const HeadMatrices& head, const Transformation& t, const Eigen::MatrixXd& B,
                             const Eigen::MatrixXd& target_points, const std::vector<std::int64_t>& labels) {
  TASKREL_ASSERT(static_cast<Eigen::Index>(labels.size()) == target_points.rows(), "labels for every point");
  const Eigen::MatrixXd u = to_reference_space(t, target_points);
  Eigen::MatrixXd logits = u * head.W.transpose();
  logits.rowwise() += head.c.transpose();
  const Eigen::VectorXd top = logits.rowwise().maxCoeff();
  Eigen::MatrixXd p = (logits.colwise() - top).array().exp().matrix();
  p.array().colwise() /= p.rowwise().sum().array();
  // grad_z' f_y = Abar^T W^T (p - r), r_j = B_yj p_j / (B p)_y.
  const Eigen::MatrixXd V = head.W * t.Abar;  // K_R x d
  double largest = 0;
  for (Eigen::Index i = 0; i < p.rows(); ++i) {
    const Eigen::RowVectorXd b_row = B.row(labels[i]);
    const double q = std::max((b_row.array() * p.row(i).array()).sum(), 1e-300);
    const Eigen::RowVectorXd r = b_row.array() * p.row(i).array() / q;
    largest = std::max(largest, ((p.row(i) - r) * V).norm());
  }
  return largest;
}

}  // namespace taskrel::relatedness
