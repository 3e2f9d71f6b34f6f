// NCE — Tran, Nguyen & Hassner, "Transferability and Hardness of Supervised
// Classification Tasks", ICCV 2019. Higher = more transferable (it is a
// negative conditional entropy, <= 0; 0 when the source labels determine the
// target labels).
//
// The source labels are the source model's argmax "dummy" labels z_i on the
// target points (ties: the lowest index); NCE = -H(Y | Z) of the empirical
// joint distribution of (y_i, z_i).
#include <cmath>

#include "baselines/estimators.h"

namespace taskrel::baselines {

double nce(const Matrix& probabilities, const Labels& labels, std::int64_t classes) {
  const Eigen::Index n = probabilities.rows(), source_classes = probabilities.cols();
  Matrix joint = Matrix::Zero(classes, source_classes);
  for (Eigen::Index i = 0; i < n; ++i) {
    Eigen::Index z = 0;
    probabilities.row(i).maxCoeff(&z);
    joint(labels[i], z) += 1.0;
  }
  joint /= static_cast<double>(n);
  const Eigen::RowVectorXd marginal = joint.colwise().sum();
  double value = 0.0;
  for (Eigen::Index z = 0; z < source_classes; ++z)
    for (std::int64_t y = 0; y < classes; ++y)
      if (joint(y, z) > 0) value += joint(y, z) * std::log(joint(y, z) / marginal[z]);
  return value;
}

}  // namespace taskrel::baselines
