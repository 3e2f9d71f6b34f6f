// PACTran-Gaussian — Ding, Chen, Levinboim, Changpinyo & Soricut, "PACTran:
// PAC-Bayesian Metrics for Estimating the Transferability of Pretrained
// Models to Classification Tasks", ECCV 2022. Sign: the paper's PAC_Gauss is a
// bound on the risk (lower = more transferable); we report -PAC_Gauss so that,
// like every baseline here, higher = more transferable.
//
// A linear softmax head (w d x K, b K) on the centred features with a Gaussian
// prior on w: L(w, b) = (1/n) sum_i CE_i + ||w||^2 / (2 lambda n), minimised
// (here by L-BFGS to a gradient norm of 1e-9; the problem is convex). With the
// diagonal curvature at the optimum, h = sum_i x_ij^2 p_ik (1 - p_ik) + 1/(lambda n)
// for w and sum_i p_ik (1 - p_ik) for b (the authors' definition, unnormalised
// by n), sigma^-2 = sum(h) lambda n / (d K) + 1e-10 and
//   PAC_Gauss = L* + 1/2 (d K) / (lambda n) * s2 * log(sigma^-2),  s2 = 100 / d.
// Hyper-parameters: lambda = 1 with s2 = 100/d, the pairing the authors' code
// uses for lambda = 1 (their middle setting).
#include <cmath>
#include <deque>

#include "baselines/estimators.h"
#include "baselines/statistics.h"

namespace taskrel::baselines {
namespace {

constexpr double kLambdaFactor = 1.0;
constexpr double kVarianceFactor = 100.0;

struct HeadProblem {
  const Matrix& x;        // centred features, n x d
  const Labels& labels;
  std::int64_t classes;
  double prior_scale;     // lambda * n

  // theta = [w; b], (d + 1) x K. Returns the loss, fills the gradient.
  double evaluate(const Matrix& theta, Matrix& gradient) const {
    const Eigen::Index d = x.cols(), n = x.rows();
    Matrix logits = x * theta.topRows(d);
    logits.rowwise() += theta.row(d);
    const Eigen::VectorXd row_max = logits.rowwise().maxCoeff();
    Matrix p = (logits.colwise() - row_max).array().exp();
    const Eigen::VectorXd sums = p.rowwise().sum();
    double cross_entropy = 0.0;
    for (Eigen::Index i = 0; i < n; ++i)
      cross_entropy += row_max[i] + std::log(sums[i]) - logits(i, labels[i]);
    p.array().colwise() /= sums.array();
    for (Eigen::Index i = 0; i < n; ++i) p(i, labels[i]) -= 1.0;  // p - Y
    const double nd = static_cast<double>(n);
    gradient.resize(theta.rows(), theta.cols());
    gradient.topRows(d) = x.transpose() * p / nd + theta.topRows(d) / prior_scale;
    gradient.row(d) = p.colwise().sum() / nd;
    // log(1 + 1e-10): the Y log(Y + 1e-10) term of the published loss.
    return cross_entropy / nd + std::log1p(1e-10) + 0.5 * theta.topRows(d).squaredNorm() / prior_scale;
  }
};

// Limited-memory BFGS with a backtracking (Armijo) line search.
Matrix minimise(const HeadProblem& problem, Matrix theta) {
  Matrix gradient, next_gradient;
  double loss = problem.evaluate(theta, gradient);
  std::deque<std::pair<Matrix, Matrix>> history;  // (s, y)
  for (int iteration = 0; iteration < 5000 && gradient.cwiseAbs().maxCoeff() > 1e-10; ++iteration) {
    Matrix direction = -gradient;
    std::vector<double> a(history.size());
    for (std::size_t k = history.size(); k-- > 0;) {
      const auto& [s, y] = history[k];
      a[k] = s.cwiseProduct(direction).sum() / y.cwiseProduct(s).sum();
      direction -= a[k] * y;
    }
    if (!history.empty()) {
      const auto& [s, y] = history.back();
      direction *= s.cwiseProduct(y).sum() / y.squaredNorm();
    }
    for (std::size_t k = 0; k < history.size(); ++k) {
      const auto& [s, y] = history[k];
      const double b = y.cwiseProduct(direction).sum() / y.cwiseProduct(s).sum();
      direction += (a[k] - b) * s;
    }
    double slope = gradient.cwiseProduct(direction).sum();
    if (slope >= 0) {  // not a descent direction: restart from steepest descent
      history.clear();
      direction = -gradient;
      slope = -gradient.squaredNorm();
    }
    double step = history.empty() ? std::min(1.0, 1.0 / gradient.cwiseAbs().maxCoeff()) : 1.0;
    Matrix candidate;
    double next_loss = 0.0;
    bool accepted = false;
    for (int halving = 0; halving < 60; ++halving, step *= 0.5) {
      candidate = theta + step * direction;
      next_loss = problem.evaluate(candidate, next_gradient);
      if (next_loss <= loss + 1e-4 * step * slope) {
        accepted = true;
        break;
      }
    }
    if (!accepted) break;  // no decrease representable: at the optimum to rounding
    Matrix s = candidate - theta, y = next_gradient - gradient;
    if (y.cwiseProduct(s).sum() > 1e-16) {
      history.emplace_back(std::move(s), std::move(y));
      if (history.size() > 10) history.pop_front();
    }
    const double decrease = loss - next_loss;
    theta = std::move(candidate);
    gradient = next_gradient;
    loss = next_loss;
    if (decrease <= 1e-16 * std::max(1.0, std::abs(loss))) break;
  }
  return theta;
}

}  // namespace

double pactran(const Matrix& features, const Labels& labels, std::int64_t classes) {
  const Matrix x = centred(features);
  const Eigen::Index n = x.rows(), d = x.cols();
  const HeadProblem problem{x, labels, classes, kLambdaFactor * static_cast<double>(n)};
  const Matrix theta = minimise(problem, Matrix::Zero(d + 1, classes));
  Matrix unused;
  const double loss = problem.evaluate(theta, unused);

  Matrix logits = x * theta.topRows(d);
  logits.rowwise() += theta.row(d);
  const Matrix p = softmax_rows(logits);
  const Matrix curvature = (p.array() * (1.0 - p.array())).matrix();  // n x K
  const double kd = static_cast<double>(d * classes);
  const double curvature_sum = (x.array().square().matrix().transpose() * curvature).sum() +
                               kd / problem.prior_scale + curvature.sum();
  const double inverse_variance = curvature_sum * problem.prior_scale / kd + 1e-10;
  const double s2 = kVarianceFactor / static_cast<double>(d);
  const double pac_gauss = loss + 0.5 * kd / problem.prior_scale * s2 * std::log(inverse_variance);
  return -pac_gauss;
}

}  // namespace taskrel::baselines
