#include "relatedness/assignment.h"

#include <algorithm>
#include <limits>
#include <random>

#include <Eigen/Dense>

#include "core/error.h"

namespace taskrel::relatedness {

std::vector<int> solve_assignment(const std::vector<double>& cost, int n) {
  // Hungarian algorithm with potentials, O(n^3); 1-based internal arrays.
  TASKREL_ASSERT(static_cast<int>(cost.size()) == n * n, "assignment needs an n x n cost");
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> u(n + 1, 0.0), v(n + 1, 0.0);
  std::vector<int> p(n + 1, 0), way(n + 1, 0);
  for (int i = 1; i <= n; ++i) {
    p[0] = i;
    int j0 = 0;
    std::vector<double> minv(n + 1, inf);
    std::vector<char> used(n + 1, 0);
    do {
      used[j0] = 1;
      const int i0 = p[j0];
      double delta = inf;
      int j1 = 0;
      for (int j = 1; j <= n; ++j) {
        if (used[j]) continue;
        const double cur = cost[(i0 - 1) * n + (j - 1)] - u[i0] - v[j];
        if (cur < minv[j]) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j] < delta) {
          delta = minv[j];
          j1 = j;
        }
      }
      for (int j = 0; j <= n; ++j) {
        if (used[j]) {
          u[p[j]] += delta;
          v[j] -= delta;
        } else {
          minv[j] -= delta;
        }
      }
      j0 = j1;
    } while (p[j0] != 0);
    do {
      const int j1 = way[j0];
      p[j0] = p[j1];
      j0 = j1;
    } while (j0 != 0);
  }
  std::vector<int> result(n, -1);
  for (int j = 1; j <= n; ++j)
    if (p[j] > 0) result[p[j] - 1] = j - 1;
  return result;
}

double agreement_up_to_permutation(const std::vector<std::int64_t>& pred, const std::vector<std::int64_t>& truth,
                                   int classes) {
  TASKREL_ASSERT(pred.size() == truth.size(), "agreement of {} and {} labels", pred.size(), truth.size());
  if (pred.empty()) return 0.0;
  std::vector<double> cost(static_cast<std::size_t>(classes) * classes, 0.0);
  for (std::size_t i = 0; i < pred.size(); ++i) cost[pred[i] * classes + truth[i]] -= 1.0;
  const auto match = solve_assignment(cost, classes);
  double hits = 0.0;
  for (int r = 0; r < classes; ++r) hits -= cost[r * classes + match[r]];
  return hits / static_cast<double>(pred.size());
}

std::vector<std::int64_t> kmeans(const std::vector<float>& points, std::int64_t rows, std::int64_t dim, int k,
                                 std::uint64_t seed, int iterations) {
  using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  TASKREL_ASSERT(rows >= k && k > 0, "k-means with {} points and k = {}", rows, k);
  const RowMatrix x = Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
                          points.data(), rows, dim).cast<double>();
  const Eigen::VectorXd x_norm = x.rowwise().squaredNorm();
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  RowMatrix centers(k, dim);
  centers.row(0) = x.row(static_cast<Eigen::Index>(rng() % static_cast<std::uint64_t>(rows)));
  Eigen::VectorXd best = (x.rowwise() - centers.row(0)).rowwise().squaredNorm();
  for (int c = 1; c < k; ++c) {  // k-means++: next center with probability ~ squared distance
    const double total = best.sum();
    double target = unit(rng) * total;
    Eigen::Index pick = rows - 1;
    for (Eigen::Index i = 0; i < rows; ++i) {
      target -= best[i];
      if (target <= 0) {
        pick = i;
        break;
      }
    }
    centers.row(c) = x.row(pick);
    best = best.cwiseMin((x.rowwise() - centers.row(c)).rowwise().squaredNorm());
  }
  std::vector<std::int64_t> label(rows, -1);
  for (int it = 0; it < iterations; ++it) {
    RowMatrix dist = -2.0 * x * centers.transpose();
    dist.colwise() += x_norm;
    dist.rowwise() += centers.rowwise().squaredNorm().transpose();
    bool changed = false;
    for (Eigen::Index i = 0; i < rows; ++i) {
      Eigen::Index arg = 0;
      dist.row(i).minCoeff(&arg);
      if (label[i] != arg) changed = true;
      label[i] = arg;
    }
    if (!changed) break;
    RowMatrix sum = RowMatrix::Zero(k, dim);
    std::vector<std::int64_t> count(k, 0);
    for (Eigen::Index i = 0; i < rows; ++i) {
      sum.row(label[i]) += x.row(i);
      ++count[label[i]];
    }
    for (int c = 0; c < k; ++c)
      if (count[c] > 0) centers.row(c) = sum.row(c) / static_cast<double>(count[c]);
  }
  return label;
}

}  // namespace taskrel::relatedness
