// TransRate — Huang, Huang, Ye, Ramanan & Gal, "Frustratingly Easy
// Transferability Estimation", ICML 2022. Higher = more transferable.
//
// TrR = R(Z, eps) - R(Z | Y, eps), the coding rate of the centred features
// minus the class-conditional one. Variant: the authors' released code,
// R(Z, eps) = 1/2 log det(I + Z^T Z / (n eps)) with eps = 1e-4, and
// R(Z | Y, eps) the unweighted mean over classes of R(Z_k, eps) (Z_k the rows
// of class k of the globally centred Z, n_k of them). The paper writes the
// scale as d / (n eps^2) and weights classes by n_k / n; the code's form is the
// one every published comparison used.
#include "baselines/estimators.h"
#include "baselines/statistics.h"

namespace taskrel::baselines {

double transrate(const Matrix& features, const Labels& labels, std::int64_t classes, double epsilon) {
  const Matrix z = centred(features);
  auto coding_rate = [&](const Matrix& rows) {
    return 0.5 * log_det_identity_plus(rows, 1.0 / (static_cast<double>(rows.rows()) * epsilon));
  };
  const double whole = coding_rate(z);
  const auto sizes = class_sizes(labels, classes);
  double conditional = 0.0;
  for (std::int64_t k = 0; k < classes; ++k) {
    Matrix rows(sizes[k], z.cols());
    Eigen::Index next = 0;
    for (Eigen::Index i = 0; i < z.rows(); ++i)
      if (labels[i] == k) rows.row(next++) = z.row(i);
    conditional += coding_rate(rows);
  }
  return whole - conditional / static_cast<double>(classes);
}

}  // namespace taskrel::baselines
