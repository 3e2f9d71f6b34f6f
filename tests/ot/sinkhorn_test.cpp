// Sinkhorn: agreement across rank counts and storage modes, stability at
// small epsilon, warm starts, and the relaxed variants' fixed points. The
// comparison with POT lives in check_against_pot.py (run by ctest).
#include <gtest/gtest.h>

#include <cmath>

#include "comm/mpi_communicator.h"
#include "comm/row_blocks.h"
#include "ot/sinkhorn.h"
#include "random_problem.h"

namespace taskrel::ot {
namespace {

struct Problem {
  std::int64_t n, m, dim;
  std::vector<float> x, y;
  std::vector<double> a, b;
};

Problem make_problem(std::int64_t n, std::int64_t m, std::int64_t dim, unsigned seed) {
  Problem p{n, m, dim, testing::random_points(n, dim, seed), testing::random_points(m, dim, seed + 1, 0.5f),
            testing::random_weights(n, seed + 2), testing::random_weights(m, seed + 3)};
  return p;
}

// Solves with this rank's shard of x over `comm`.
SinkhornResult solve_sharded(Communicator& comm, const Problem& p, const SinkhornOptions& options) {
  const RowBlock block = shard_rows(p.n, comm.rank(), comm.size());
  std::vector<double> a_local(p.a.begin() + block.begin, p.a.begin() + block.end);
  PointCloudView x_local{p.x.data() + block.begin * p.dim, block.size(), p.dim};
  return solve_sinkhorn(comm, x_local, a_local, view_of(p.y, p.m, p.dim), p.b, options);
}

TEST(Sinkhorn, SameAnswerOnOneRankAndOnAllRanks) {
  auto world = MpiCommunicator::world();
  auto alone = world.split(world.rank(), 0);  // a one-rank communicator per rank
  for (auto cost : {GroundCost::kEuclidean, GroundCost::kSquaredEuclidean}) {
    const Problem p = make_problem(37, 29, 5, 11);
    SinkhornOptions options;
    options.cost = cost;
    options.tolerance = 1e-9;
    options.precision = Precision::kFloat64;
    const SinkhornResult sharded = solve_sharded(world, p, options);
    const SinkhornResult single = solve_sharded(*alone, p, options);
    EXPECT_TRUE(sharded.converged);
    EXPECT_NEAR(sharded.transport_cost, single.transport_cost, 1e-10 * single.transport_cost);
    EXPECT_NEAR(sharded.objective, single.objective, 1e-9 * std::abs(single.objective));
    ASSERT_EQ(sharded.potentials.g.size(), single.potentials.g.size());
    for (std::size_t j = 0; j < single.potentials.g.size(); ++j)
      EXPECT_NEAR(sharded.potentials.g[j], single.potentials.g[j], 1e-7);
  }
}

TEST(Sinkhorn, StoredAndOnlineCostBlocksAgree) {
  auto world = MpiCommunicator::world();
  const Problem p = make_problem(300, 200, 16, 3);
  SinkhornOptions stored;
  stored.tolerance = 1e-8;
  SinkhornOptions online = stored;
  online.memory_budget_bytes = 0;  // forces recomputation of every tile
  const SinkhornResult a = solve_sharded(world, p, stored);
  const SinkhornResult b = solve_sharded(world, p, online);
  EXPECT_TRUE(a.cost_stored);
  EXPECT_FALSE(b.cost_stored);
  EXPECT_NEAR(a.transport_cost, b.transport_cost, 1e-6 * a.transport_cost);
  EXPECT_EQ(a.iterations, b.iterations);
}

TEST(Sinkhorn, BalancedPlanHasTheRequestedMarginals) {
  auto world = MpiCommunicator::world();
  const Problem p = make_problem(120, 90, 8, 5);
  SinkhornOptions options;
  options.tolerance = 1e-7;
  const SinkhornResult result = solve_sharded(world, p, options);
  EXPECT_TRUE(result.converged);
  EXPECT_LT(result.marginal_error, 1e-6);
  EXPECT_NEAR(result.transported_mass, 1.0, 1e-6);
  // Entropic cost lies above the cost of any plan, in particular above 0, and
  // below the cost of the independent coupling a b^T.
  EXPECT_GT(result.transport_cost, 0.0);
  EXPECT_LT(result.transport_cost, result.mean_cost * 1.5);
}

TEST(Sinkhorn, NoNanDownToTinyEpsilonInBothPrecisions) {
  auto world = MpiCommunicator::world();
  const Problem p = make_problem(200, 150, 32, 9);
  for (auto precision : {Precision::kFloat32, Precision::kFloat64}) {
    for (double epsilon : {1e-1, 1e-2, 1e-3, 1e-4}) {
      for (bool scaling : {true, false}) {
        SinkhornOptions options;
        options.epsilon = epsilon;
        options.precision = precision;
        options.epsilon_scaling = scaling;
        options.max_iterations = 300;
        const SinkhornResult result = solve_sharded(world, p, options);
        EXPECT_TRUE(std::isfinite(result.transport_cost)) << epsilon;
        EXPECT_TRUE(std::isfinite(result.objective)) << epsilon;
        EXPECT_TRUE(std::isfinite(result.marginal_error)) << epsilon;
        for (double g : result.potentials.g) ASSERT_TRUE(std::isfinite(g)) << epsilon;
        for (double f : result.potentials.f) ASSERT_TRUE(std::isfinite(f)) << epsilon;
        EXPECT_GT(result.transport_cost, 0.0);
      }
    }
  }
}

TEST(Sinkhorn, SmallerEpsilonApproachesTheExactCostFromAbove) {
  auto world = MpiCommunicator::world();
  const Problem p = make_problem(60, 60, 4, 21);
  double previous = std::numeric_limits<double>::infinity();
  for (double epsilon : {0.5, 0.1, 0.02, 0.005}) {
    SinkhornOptions options;
    options.epsilon = epsilon;
    options.tolerance = 1e-8;
    options.max_iterations = 20000;
    options.precision = Precision::kFloat64;
    const SinkhornResult result = solve_sharded(world, p, options);
    EXPECT_TRUE(result.converged) << epsilon;
    EXPECT_LT(result.transport_cost, previous) << epsilon;
    previous = result.transport_cost;
  }
}

TEST(Sinkhorn, WarmStartFromTheSolutionConvergesAtOnce) {
  auto world = MpiCommunicator::world();
  const Problem p = make_problem(80, 70, 6, 13);
  SinkhornOptions options;
  options.tolerance = 1e-7;
  options.precision = Precision::kFloat64;
  const SinkhornResult cold = solve_sharded(world, p, options);
  const RowBlock block = shard_rows(p.n, world.rank(), world.size());
  std::vector<double> a_local(p.a.begin() + block.begin, p.a.begin() + block.end);
  const SinkhornResult warm = solve_sinkhorn(world, PointCloudView{p.x.data() + block.begin * p.dim, block.size(), p.dim},
                                             a_local, view_of(p.y, p.m, p.dim), p.b, options, &cold.potentials);
  EXPECT_TRUE(warm.converged);
  EXPECT_LE(warm.iterations, 2);
  EXPECT_NEAR(warm.transport_cost, cold.transport_cost, 1e-7 * cold.transport_cost);
}

TEST(Sinkhorn, RelaxedMarginalsTransportPartOfTheMass) {
  // Agreement with POT's unbalanced solver is checked in check_against_pot.py;
  // here: masses that differ are not forced to match, and a semi-relaxed
  // problem keeps the marginal of its exact side.
  auto world = MpiCommunicator::world();
  Problem p = make_problem(50, 40, 3, 17);
  for (auto& w : p.b) w *= 1.7;  // masses differ: the case unbalanced OT is for
  SinkhornOptions options;
  options.rho_source = options.rho_target = 0.8;
  options.epsilon = 0.1;
  options.tolerance = 1e-10;
  options.max_iterations = 5000;
  options.precision = Precision::kFloat64;
  const SinkhornResult result = solve_sharded(world, p, options);
  EXPECT_TRUE(result.converged);
  // Mass lies between the two totals.
  EXPECT_GT(result.transported_mass, 1.0 * 0.5);
  EXPECT_LT(result.transported_mass, 1.7);
  // Semi-relaxed: the exact side keeps its marginal.
  SinkhornOptions semi = options;
  semi.rho_source = std::numeric_limits<double>::infinity();
  const SinkhornResult semi_result = solve_sharded(world, p, semi);
  EXPECT_TRUE(semi_result.converged);
  EXPECT_NEAR(semi_result.transported_mass, 1.0, 1e-6);
}

}  // namespace
}  // namespace taskrel::ot
