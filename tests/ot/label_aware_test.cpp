// Label-aware OT equals solving each target class on its own, skips zero
// weights, and reports the prior mismatch.
#include <gtest/gtest.h>

#include <cmath>

#include "comm/mpi_communicator.h"
#include "comm/row_blocks.h"
#include "ot/label_aware.h"
#include "random_problem.h"

namespace taskrel::ot {
namespace {

TEST(LabelAware, EqualsSolvingEachClassSeparately) {
  auto world = MpiCommunicator::world();
  auto alone = world.split(world.rank(), 0);
  const std::int64_t n = 90, m = 60, dim = 4;
  const int classes = 3;
  auto x = testing::random_points(n, dim, 41);
  auto y = testing::random_points(m, dim, 42);
  std::vector<std::int64_t> y_labels(m);
  for (std::int64_t j = 0; j < m; ++j) y_labels[j] = (j * 7) % classes;
  // Weights per (point, class); class 2 gets no mass from the first 30 points.
  std::vector<double> weights(n * classes);
  for (std::int64_t i = 0; i < n; ++i)
    for (int k = 0; k < classes; ++k) weights[i * classes + k] = (k == 2 && i < 30) ? 0.0 : (1.0 + (i + k) % 5) / (n * 9.0);

  SinkhornOptions options;
  options.tolerance = 1e-9;
  options.precision = Precision::kFloat64;

  const RowBlock block = shard_rows(n, world.rank(), world.size());
  LabelAwareProblem problem;
  problem.x_local = PointCloudView{x.data() + block.begin * dim, block.size(), dim};
  problem.class_weights.assign(weights.begin() + block.begin * classes, weights.begin() + block.end * classes);
  problem.y = view_of(y, m, dim);
  problem.y_labels = y_labels;
  problem.num_classes = classes;
  const LabelAwareResult result = solve_label_aware(world, problem, options);

  double expected_distance = 0.0, expected_mismatch = 0.0;
  for (int k = 0; k < classes; ++k) {
    // The class problem written out by hand, solved on one rank.
    std::vector<float> xs, ys;
    std::vector<double> as, bs;
    for (std::int64_t i = 0; i < n; ++i)
      if (weights[i * classes + k] > 0) {
        xs.insert(xs.end(), x.begin() + i * dim, x.begin() + (i + 1) * dim);
        as.push_back(weights[i * classes + k]);
      }
    for (std::int64_t j = 0; j < m; ++j)
      if (y_labels[j] == k) {
        ys.insert(ys.end(), y.begin() + j * dim, y.begin() + (j + 1) * dim);
        bs.push_back(1.0);
      }
    const auto single = solve_sinkhorn(*alone, view_of(xs, static_cast<std::int64_t>(as.size()), dim), as,
                                       view_of(ys, static_cast<std::int64_t>(bs.size()), dim), bs, options);
    const double prior = static_cast<double>(bs.size()) / m;
    double mass = 0.0;
    for (double w : as) mass += w;
    expected_distance += prior * single.transport_cost;
    expected_mismatch += std::abs(prior - mass);
    ASSERT_TRUE(result.classes[k].solved);
    EXPECT_NEAR(result.classes[k].transport.transport_cost, single.transport_cost, 1e-9 * single.transport_cost);
    EXPECT_NEAR(result.classes[k].target_mass, prior, 1e-15);
    EXPECT_NEAR(result.classes[k].source_mass, mass, 1e-12);
  }
  EXPECT_NEAR(result.distance, expected_distance, 1e-9 * expected_distance);
  EXPECT_NEAR(result.mass_mismatch, expected_mismatch, 1e-12);
  EXPECT_TRUE(result.converged);
  // Zero weights are skipped: class 2 only uses rows >= 30.
  for (std::int64_t local : result.classes[2].source_rows) EXPECT_GE(block.begin + local, 30);
}

TEST(LabelAware, ClassWithoutTargetPointsIsReportedNotSolved) {
  auto world = MpiCommunicator::world();
  const std::int64_t n = 10, m = 8, dim = 2;
  auto x = testing::random_points(n, dim, 51);
  auto y = testing::random_points(m, dim, 52);
  const RowBlock block = shard_rows(n, world.rank(), world.size());
  LabelAwareProblem problem;
  problem.x_local = PointCloudView{x.data() + block.begin * dim, block.size(), dim};
  problem.class_weights.assign(block.size() * 2, 0.5 / n);
  problem.y = view_of(y, m, dim);
  problem.y_labels.assign(m, 0);  // class 1 has no target points
  problem.num_classes = 2;
  const LabelAwareResult result = solve_label_aware(world, problem, SinkhornOptions{});
  EXPECT_TRUE(result.classes[0].solved);
  EXPECT_FALSE(result.classes[1].solved);
  EXPECT_NEAR(result.mass_mismatch, 1.0, 1e-12);  // |1 - 0.5| + |0 - 0.5|
  EXPECT_TRUE(std::isfinite(result.distance));
}

}  // namespace
}  // namespace taskrel::ot
