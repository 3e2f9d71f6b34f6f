// The W_d gradients used by the fit (wd_gradient.h) against central finite
// differences of the entropic objective they differentiate, on a small
// problem solved to high accuracy; the rows are sharded over the ranks.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "comm/mpi_communicator.h"
#include "comm/row_blocks.h"
#include "relatedness/wd_gradient.h"

namespace taskrel::relatedness {
namespace {

struct Problem {
  std::int64_t n = 14, m = 11, dim = 3;
  int classes = 2;
  std::vector<float> x, y;
  std::vector<double> w;  // n x classes
  std::vector<std::int64_t> labels;
};

Problem make_problem() {
  Problem p;
  std::mt19937 engine(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<double> uniform(0.2, 1.0);
  p.x.resize(p.n * p.dim);
  p.y.resize(p.m * p.dim);
  for (auto& v : p.x) v = normal(engine);
  for (auto& v : p.y) v = normal(engine) + 0.5f;
  p.w.resize(p.n * p.classes);
  for (auto& v : p.w) v = uniform(engine) / p.n;
  for (std::int64_t j = 0; j < p.m; ++j) p.labels.push_back(j % p.classes);
  return p;
}

ot::SinkhornOptions tight(ot::GroundCost cost) {
  ot::SinkhornOptions o;
  o.epsilon = 0.3;
  o.epsilon_mode = ot::EpsilonMode::kAbsolute;  // a relative epsilon would move with x
  o.tolerance = 1e-13;
  o.max_iterations = 100000;
  o.precision = ot::Precision::kFloat64;
  o.cost = cost;
  return o;
}

WdGradient solve(Communicator& comm, const Problem& p, const ot::SinkhornOptions& options) {
  const RowBlock block = shard_rows(p.n, comm.rank(), comm.size());
  ot::LabelAwareProblem problem;
  problem.x_local = ot::PointCloudView{p.x.data() + block.begin * p.dim, block.size(), p.dim};
  problem.class_weights.assign(p.w.begin() + block.begin * p.classes, p.w.begin() + block.end * p.classes);
  problem.y = ot::view_of(p.y, p.m, p.dim);
  problem.y_labels = p.labels;
  problem.num_classes = p.classes;
  return label_exact_wd(comm, problem, options);
}

// The analytic gradient entry of global row i (owned by one rank), on every rank.
double global_entry(Communicator& comm, const std::vector<double>& local, std::int64_t n, std::int64_t width,
                    std::int64_t row, std::int64_t column) {
  const RowBlock block = shard_rows(n, comm.rank(), comm.size());
  double value = 0.0;
  if (row >= block.begin && row < block.end) value = local[(row - block.begin) * width + column];
  return comm.all_reduce_sum(value);
}

class WdGradientTest : public ::testing::TestWithParam<ot::GroundCost> {};

TEST_P(WdGradientTest, MatchesFiniteDifferences) {
  auto world = MpiCommunicator::world();
  const Problem base = make_problem();
  const auto options = tight(GetParam());
  const WdGradient at = solve(world, base, options);
  ASSERT_TRUE(at.converged);

  // Points: float32 storage limits the step; central differences with h = 1e-2.
  const double h = 1e-2;
  double largest_x = 0.0, largest_w = 0.0;  // the check must not pass on gradients that vanish
  for (std::int64_t i : {0, 5, 13})
    for (std::int64_t t = 0; t < base.dim; ++t) {
      Problem plus = base, minus = base;
      plus.x[i * base.dim + t] += static_cast<float>(h);
      minus.x[i * base.dim + t] -= static_cast<float>(h);
      const double fd = (solve(world, plus, options).objective - solve(world, minus, options).objective) /
                        (static_cast<double>(plus.x[i * base.dim + t]) - minus.x[i * base.dim + t]);
      const double analytic = global_entry(world, at.grad_x, base.n, base.dim, i, t);
      EXPECT_NEAR(analytic, fd, 2e-3 + 2e-3 * std::abs(fd)) << "x[" << i << "][" << t << "]";
      largest_x = std::max(largest_x, std::abs(fd));
    }
  // Class weights (float64): through the duals and the normalisation.
  for (std::int64_t i : {1, 7, 12})
    for (int k = 0; k < base.classes; ++k) {
      const double step = 1e-4 * base.w[i * base.classes + k];
      Problem plus = base, minus = base;
      plus.w[i * base.classes + k] += step;
      minus.w[i * base.classes + k] -= step;
      const double fd = (solve(world, plus, options).objective - solve(world, minus, options).objective) / (2 * step);
      const double analytic = global_entry(world, at.grad_w, base.n, base.classes, i, k);
      EXPECT_NEAR(analytic, fd, 1e-4 * (1.0 + std::abs(fd))) << "w[" << i << "][" << k << "]";
      largest_w = std::max(largest_w, std::abs(fd));
    }
  EXPECT_GT(largest_x, 0.02);
  EXPECT_GT(largest_w, 0.1);
}

INSTANTIATE_TEST_SUITE_P(Costs, WdGradientTest,
                         ::testing::Values(ot::GroundCost::kEuclidean, ot::GroundCost::kSquaredEuclidean));

}  // namespace
}  // namespace taskrel::relatedness
