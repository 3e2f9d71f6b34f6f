// Exact EMD: against brute force over assignments, dual feasibility and
// strong duality. Agreement with POT's ot.emd2 is in check_against_pot.py.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "ot/cost_block.h"
#include "ot/exact_emd.h"
#include "random_problem.h"

namespace taskrel::ot {
namespace {

std::vector<double> cost_matrix(const std::vector<float>& x, const std::vector<float>& y, std::int64_t n,
                                std::int64_t m, std::int64_t dim, GroundCost cost) {
  CostBlock<double> block(view_of(x, n, dim), view_of(y, m, dim), cost, std::int64_t{1} << 40);
  std::vector<double> scratch;
  const double* values = block.row_tile(0, n, scratch);
  return std::vector<double>(values, values + n * m);
}

TEST(ExactEmd, UniformSquareProblemIsTheBestAssignment) {
  // With n = m and uniform masses an optimal plan is a permutation
  // (Birkhoff), so brute force over all 7! assignments gives the answer.
  const std::int64_t n = 7, dim = 3;
  for (unsigned seed : {1u, 2u, 3u}) {
    auto x = testing::random_points(n, dim, seed);
    auto y = testing::random_points(n, dim, seed + 100);
    auto cost = cost_matrix(x, y, n, n, dim, GroundCost::kEuclidean);
    std::vector<int> perm(n);
    std::iota(perm.begin(), perm.end(), 0);
    double best = std::numeric_limits<double>::infinity();
    do {
      double total = 0.0;
      for (int i = 0; i < n; ++i) total += cost[i * n + perm[i]];
      best = std::min(best, total / n);
    } while (std::next_permutation(perm.begin(), perm.end()));
    std::vector<double> uniform(n, 1.0 / n);
    const ExactEmdResult result = solve_exact_emd(cost, n, n, uniform, uniform);
    EXPECT_NEAR(result.cost, best, 1e-9 * best) << "seed " << seed;
  }
}

TEST(ExactEmd, DualsAreFeasibleAndTight) {
  const std::int64_t n = 40, m = 25, dim = 5;
  auto x = testing::random_points(n, dim, 7);
  auto y = testing::random_points(m, dim, 8);
  auto a = testing::random_weights(n, 9);
  auto b = testing::random_weights(m, 10);
  for (auto ground : {GroundCost::kEuclidean, GroundCost::kSquaredEuclidean}) {
    auto cost = cost_matrix(x, y, n, m, dim, ground);
    const ExactEmdResult result = solve_exact_emd(cost, n, m, a, b);
    EXPECT_LE(result.plan.size(), static_cast<std::size_t>(n + m - 1));
    std::vector<double> rows(n, 0.0), cols(m, 0.0);
    for (const auto& entry : result.plan) {
      rows[entry.source] += entry.mass;
      cols[entry.target] += entry.mass;
    }
    for (std::int64_t i = 0; i < n; ++i) EXPECT_NEAR(rows[i], a[i], 1e-11);
    for (std::int64_t j = 0; j < m; ++j) EXPECT_NEAR(cols[j], b[j], 1e-11);
    double dual = 0.0;
    for (std::int64_t i = 0; i < n; ++i) dual += a[i] * result.source_potentials[i];
    for (std::int64_t j = 0; j < m; ++j) dual += b[j] * result.target_potentials[j];
    EXPECT_NEAR(dual, result.cost, 1e-8 * result.cost);
    const double max_cost = *std::max_element(cost.begin(), cost.end());
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = 0; j < m; ++j)
        EXPECT_LE(result.source_potentials[i] + result.target_potentials[j], cost[i * m + j] + 1e-8 * max_cost);
  }
}

TEST(ExactEmd, ZeroMassPointsTakeNoPart) {
  const std::int64_t n = 6, m = 4, dim = 2;
  auto x = testing::random_points(n, dim, 31);
  auto y = testing::random_points(m, dim, 32);
  std::vector<double> a = {0.5, 0.0, 0.25, 0.0, 0.25, 0.0};
  std::vector<double> b(m, 0.25);
  const ExactEmdResult result = solve_exact_emd(view_of(x, n, dim), a, view_of(y, m, dim), b, GroundCost::kEuclidean);
  for (const auto& entry : result.plan) EXPECT_GT(a[entry.source], 0.0);
  EXPECT_GT(result.cost, 0.0);
}

}  // namespace
}  // namespace taskrel::ot
