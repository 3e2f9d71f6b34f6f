// SFDA — Shao, Zhao, Ge, Liu, Ma & Luo, "Not All Models Are Equal: Predicting
// Model Transferability in a Self-challenging Fisher Space", ECCV 2022.
// Higher = more transferable (a mean probability, in (0, 1]).
//
// 1. Regularised Fisher discriminant: S_W = sum_c pi_c cov_c (1/n_c class
//    covariances, pi_c = n_c / n), S_W^lambda = (1 - lambda) S_W + lambda I with
//    the paper's adaptive lambda = exp(-a sigma_max(S_W)), a = 1. Keeping every
//    Fisher direction (as the authors' code does), the class scores are those
//    of LDA with S_W^lambda: x^T S^-1 mu_c - 1/2 mu_c^T S^-1 mu_c + log pi_c;
//    p = softmax of them.
// 2. Self-challenge (ConfMix): p is softened once more, p' = softmax(p), and
//    each x of class c moves to p'_c x + (1 - p'_c) mu_{not c}, mu_{not c} the
//    mean of the rows outside class c.
// 3. The same Fisher classifier (same lambda) refit on the mixed features;
//    SFDA = mean_i p(y_i | x_i) (no log, as published).
// Simplification: sigma_max(S_W) is the exact largest eigenvalue; the
// authors' code approximates it with three power iterations.
#include <cmath>

#include "baselines/estimators.h"
#include "baselines/statistics.h"

namespace taskrel::baselines {
namespace {

constexpr double kShrinkageRate = 1.0;  // the paper's a

Matrix within_class_scatter(const Matrix& x, const Labels& labels, const Matrix& means) {
  Matrix deviations(x.rows(), x.cols());
  for (Eigen::Index i = 0; i < x.rows(); ++i) deviations.row(i) = x.row(i) - means.row(labels[i]);
  // sum_c (n_c/n) (1/n_c) sum_{i in c} dev dev^T = (1/n) sum_i dev dev^T.
  return scatter(deviations);
}

// Posterior probabilities of the shrunk-LDA classifier fitted on (x, labels).
Matrix fisher_probabilities(const Matrix& x, const Labels& labels, std::int64_t classes, double shrinkage) {
  const Matrix means = class_means(x, labels, classes);
  Matrix shrunk = (1.0 - shrinkage) * within_class_scatter(x, labels, means);
  shrunk.diagonal().array() += shrinkage;
  const Matrix coefficients = shrunk.ldlt().solve(means.transpose()).transpose();  // classes x d
  const auto sizes = class_sizes(labels, classes);
  Eigen::RowVectorXd intercept(classes);
  for (std::int64_t c = 0; c < classes; ++c)
    intercept[c] = -0.5 * means.row(c).dot(coefficients.row(c)) +
                   std::log(static_cast<double>(sizes[c]) / static_cast<double>(x.rows()));
  Matrix logits = x * coefficients.transpose();
  logits.rowwise() += intercept;
  return softmax_rows(logits);
}

}  // namespace

double sfda(const Matrix& features, const Labels& labels, std::int64_t classes) {
  if (classes < 2) {
    warn_degenerate("sfda", "the target has one class; SFDA set to 1");
    return 1.0;
  }
  const Eigen::Index n = features.rows();
  const Matrix means = class_means(features, labels, classes);
  Eigen::SelfAdjointEigenSolver<Matrix> eigen(within_class_scatter(features, labels, means), Eigen::EigenvaluesOnly);
  const double shrinkage = std::exp(-kShrinkageRate * eigen.eigenvalues().maxCoeff());

  const Matrix softened = softmax_rows(fisher_probabilities(features, labels, classes, shrinkage));
  const auto sizes = class_sizes(labels, classes);
  const Eigen::RowVectorXd total = features.colwise().sum();
  Matrix mixed = features;
  for (Eigen::Index i = 0; i < n; ++i) {
    const std::int64_t c = labels[i];
    const Eigen::RowVectorXd outside =
        (total - means.row(c) * static_cast<double>(sizes[c])) / static_cast<double>(n - sizes[c]);
    const double confidence = softened(i, c);
    mixed.row(i) = confidence * features.row(i) + (1.0 - confidence) * outside;
  }
  const Matrix probabilities = fisher_probabilities(mixed, labels, classes, shrinkage);
  double score = 0.0;
  for (Eigen::Index i = 0; i < n; ++i) score += probabilities(i, labels[i]);
  return score / static_cast<double>(n);
}

}  // namespace taskrel::baselines
