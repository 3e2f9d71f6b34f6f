// N-LEEP — Li, Jia, Zhou, Zhu, Kumar, Pan, Shah, Yu, Zhang & Gong, "Ranking
// Neural Checkpoints", CVPR 2021. Higher = more transferable (a LEEP value).
//
// The source model's probabilities are replaced by the posteriors of a
// Gaussian mixture fitted to the target features: PCA keeping the fewest
// components that explain >= 80% of the variance (the rule of
// sklearn.decomposition.PCA(n_components=0.8)), then a full-covariance GMM
// with one component per target class, fitted by EM exactly as
// sklearn.mixture.GaussianMixture does (reg_covar 1e-6, tol 1e-3 on the mean
// log-likelihood, at most 100 iterations), then LEEP of the target labels on
// the posteriors. Initialisation, deterministic for the seed: k-means++ seed
// rows (D^2 sampling), every point hard-assigned to its nearest seed, one
// M-step from that assignment.
#include <cmath>
#include <limits>
#include <random>

#include "baselines/estimators.h"
#include "baselines/statistics.h"

namespace taskrel::baselines {
namespace {

constexpr double kExplainedVariance = 0.8;
constexpr double kRegCovar = 1e-6;
constexpr double kTolerance = 1e-3;
constexpr int kMaxIterations = 100;

double uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

// Rows of x projected on the leading principal components.
Matrix principal_components(const Matrix& features) {
  const Matrix x = centred(features);
  const bool gram = x.rows() < x.cols();
  Eigen::SelfAdjointEigenSolver<Matrix> eigen(gram ? Matrix(x * x.transpose()) : Matrix(x.transpose() * x));
  const Eigen::Index count = eigen.eigenvalues().size();
  // Eigen sorts ascending; walk from the largest.
  const double total = eigen.eigenvalues().cwiseMax(0.0).sum();
  Eigen::Index keep = 1;
  if (total > 0) {
    double cumulative = 0.0;
    Eigen::Index below = 0;
    for (Eigen::Index i = count - 1; i >= 0; --i) {
      cumulative += std::max(0.0, eigen.eigenvalues()[i]) / total;
      if (cumulative <= kExplainedVariance) ++below;
      else break;
    }
    keep = std::min<Eigen::Index>(below + 1, count);
  } else {
    warn_degenerate("nleep", "the target features are constant; the GMM sees one dimension of zeros");
  }
  Matrix projected(x.rows(), keep);
  for (Eigen::Index j = 0; j < keep; ++j) {
    const Eigen::Index i = count - 1 - j;
    if (gram)  // X V = U S: the eigenvector times sqrt(eigenvalue)
      projected.col(j) = eigen.eigenvectors().col(i) * std::sqrt(std::max(0.0, eigen.eigenvalues()[i]));
    else
      projected.col(j) = x * eigen.eigenvectors().col(i);
  }
  return projected;
}

std::vector<std::int64_t> kmeans_plus_plus(const Matrix& x, std::int64_t k, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  const Eigen::Index n = x.rows();
  std::vector<std::int64_t> centres{static_cast<std::int64_t>(uniform01(rng) * static_cast<double>(n))};
  Eigen::VectorXd nearest = (x.rowwise() - x.row(centres[0])).rowwise().squaredNorm();
  while (static_cast<std::int64_t>(centres.size()) < k) {
    const double total = nearest.sum();
    std::int64_t chosen = n - 1;
    if (total > 0) {
      const double target = uniform01(rng) * total;
      double cumulative = 0.0;
      for (Eigen::Index i = 0; i < n; ++i) {
        cumulative += nearest[i];
        if (cumulative > target) {
          chosen = i;
          break;
        }
      }
    } else {
      chosen = static_cast<std::int64_t>(uniform01(rng) * static_cast<double>(n));  // all points coincide
    }
    centres.push_back(chosen);
    nearest = nearest.cwiseMin((x.rowwise() - x.row(chosen)).rowwise().squaredNorm());
  }
  return centres;
}

struct Mixture {
  Eigen::VectorXd weights;
  Matrix means;                  // k x p
  std::vector<Matrix> covariances;
};

Mixture maximisation(const Matrix& x, const Matrix& responsibilities) {
  Mixture m;
  const Eigen::Index k = responsibilities.cols(), p = x.cols();
  const Eigen::VectorXd sizes =
      responsibilities.colwise().sum().transpose().array() + 10.0 * std::numeric_limits<double>::epsilon();
  m.means = (responsibilities.transpose() * x).array().colwise() / sizes.array();
  for (Eigen::Index c = 0; c < k; ++c) {
    const Matrix deviations = x.rowwise() - m.means.row(c);
    Matrix covariance = deviations.transpose() * responsibilities.col(c).asDiagonal() * deviations / sizes[c];
    covariance.diagonal().array() += kRegCovar;
    m.covariances.push_back(std::move(covariance));
  }
  m.weights = sizes / sizes.sum();
  (void)p;
  return m;
}

// Posteriors, and the mean log-likelihood through `mean_log_likelihood`.
Matrix expectation(const Matrix& x, const Mixture& m, double& mean_log_likelihood) {
  const Eigen::Index n = x.rows(), k = m.means.rows(), p = x.cols();
  Matrix log_weighted(n, k);
  for (Eigen::Index c = 0; c < k; ++c) {
    Eigen::LLT<Matrix> cholesky(m.covariances[c]);
    const double log_det = 2.0 * cholesky.matrixL().toDenseMatrix().diagonal().array().log().sum();
    const Matrix deviations = (x.rowwise() - m.means.row(c)).transpose();  // p x n
    const Matrix whitened = cholesky.matrixL().solve(deviations);
    log_weighted.col(c) = (-0.5 * (static_cast<double>(p) * std::log(2.0 * M_PI) + log_det) -
                           0.5 * whitened.colwise().squaredNorm().array())
                              .matrix()
                              .transpose();
    log_weighted.col(c).array() += std::log(m.weights[c]);
  }
  const Eigen::VectorXd row_max = log_weighted.rowwise().maxCoeff();
  const Eigen::VectorXd normaliser =
      row_max.array() + (log_weighted.colwise() - row_max).array().exp().rowwise().sum().log();
  mean_log_likelihood = normaliser.mean();
  return (log_weighted.colwise() - normaliser).array().exp();
}

}  // namespace

double nleep(const Matrix& features, const Labels& labels, std::int64_t classes, std::uint64_t seed,
             std::vector<std::int64_t>* centres_out) {
  const Matrix x = principal_components(features);
  const auto centres = kmeans_plus_plus(x, classes, seed);
  if (centres_out != nullptr) *centres_out = centres;
  Matrix assignment = Matrix::Zero(x.rows(), classes);
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    Eigen::Index best = 0;
    double best_distance = std::numeric_limits<double>::infinity();
    for (std::int64_t c = 0; c < classes; ++c) {
      const double distance = (x.row(i) - x.row(centres[c])).squaredNorm();
      if (distance < best_distance) best_distance = distance, best = c;
    }
    assignment(i, best) = 1.0;
  }
  Mixture mixture = maximisation(x, assignment);
  double lower_bound = -std::numeric_limits<double>::infinity();
  for (int iteration = 0; iteration < kMaxIterations; ++iteration) {
    const double previous = lower_bound;
    const Matrix responsibilities = expectation(x, mixture, lower_bound);
    mixture = maximisation(x, responsibilities);
    if (std::abs(lower_bound - previous) < kTolerance) break;
  }
  double unused = 0.0;
  return leep(expectation(x, mixture, unused), labels, classes);
}

}  // namespace taskrel::baselines
