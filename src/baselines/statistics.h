// Shared pieces of the estimators: class means, covariances, a symmetric
// pseudo-inverse with a relative cutoff, log-determinants, and the warning
// every degenerate case logs.
#pragma once

#include <string>

#include "baselines/estimators.h"

namespace taskrel::baselines {

// Eigenvalues below this fraction of the largest are treated as zero by
// symmetric_pseudo_inverse (tests use numpy pinv(rcond=1e-10, hermitian=True)).
inline constexpr double kRelativeEigenCutoff = 1e-10;

Eigen::VectorXd column_means(const Matrix& x);
Matrix centred(const Matrix& x);
// classes x d, row c the mean of the rows of class c.
Matrix class_means(const Matrix& x, const Labels& labels, std::int64_t classes);
std::vector<std::int64_t> class_sizes(const Labels& labels, std::int64_t classes);
// (1/n) x^T x of already-centred rows.
Matrix scatter(const Matrix& centred_rows);
Matrix symmetric_pseudo_inverse(const Matrix& symmetric, double relative_cutoff = kRelativeEigenCutoff);
// log det(I + c * x^T x), through the smaller of x^T x and x x^T.
double log_det_identity_plus(const Matrix& x, double c);
// Row-wise softmax of logits.
Matrix softmax_rows(const Matrix& logits);
// spdlog::warn("<metric>: <what>") — one place, so the wording stays uniform.
void warn_degenerate(const char* metric, const std::string& what);

}  // namespace taskrel::baselines
