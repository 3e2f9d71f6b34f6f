#include "ot/exact_emd.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include <lemon/network_simplex.h>
#include <lemon/static_graph.h>

#include <spdlog/spdlog.h>

#include "core/error.h"
#include "ot/cost_block.h"

namespace taskrel::ot {

namespace {

constexpr double kMassScale = 1099511627776.0;  // 2^40
constexpr double kCostScale = 2147483648.0;     // 2^31

// Integer masses summing exactly to `total`, by largest remainder.
std::vector<std::int64_t> integer_masses(const std::vector<double>& weights, std::int64_t total) {
  const double sum = std::accumulate(weights.begin(), weights.end(), 0.0);
  std::vector<std::int64_t> out(weights.size());
  std::vector<std::pair<double, std::size_t>> remainders(weights.size());
  std::int64_t assigned = 0;
  for (std::size_t i = 0; i < weights.size(); ++i) {
    const double exact = weights[i] / sum * static_cast<double>(total);
    out[i] = static_cast<std::int64_t>(std::floor(exact));
    assigned += out[i];
    remainders[i] = {exact - std::floor(exact), i};
  }
  std::sort(remainders.begin(), remainders.end(),
            [](const auto& l, const auto& r) { return l.first > r.first || (l.first == r.first && l.second < r.second); });
  for (std::size_t k = 0; assigned < total; ++k, ++assigned) out[remainders[k % remainders.size()].second] += 1;
  return out;
}

}  // namespace

ExactEmdResult solve_exact_emd(const std::vector<double>& cost, std::int64_t n, std::int64_t m,
                               const std::vector<double>& a, const std::vector<double>& b) {
  TASKREL_ASSERT(static_cast<std::int64_t>(cost.size()) == n * m, "cost has {} entries for {} x {}",
                 cost.size(), n, m);
  TASKREL_ASSERT(static_cast<std::int64_t>(a.size()) == n && static_cast<std::int64_t>(b.size()) == m,
                 "weights {} / {} for {} x {}", a.size(), b.size(), n, m);
  TASKREL_ASSERT(n > 0 && m > 0, "empty EMD problem");
  if (n + m > 200000) throw InputError(fmt::format("exact EMD on {} + {} points is too large (use Sinkhorn)", n, m));

  const auto total = static_cast<std::int64_t>(kMassScale);
  const std::vector<std::int64_t> supply_a = integer_masses(a, total);
  const std::vector<std::int64_t> supply_b = integer_masses(b, total);

  // Only points with mass become nodes: fewer arcs, same optimum.
  std::vector<std::int64_t> sources, targets;
  for (std::int64_t i = 0; i < n; ++i)
    if (supply_a[i] > 0) sources.push_back(i);
  for (std::int64_t j = 0; j < m; ++j)
    if (supply_b[j] > 0) targets.push_back(j);
  const int ns = static_cast<int>(sources.size());
  const int nt = static_cast<int>(targets.size());

  const double max_cost = *std::max_element(cost.begin(), cost.end());
  const double cost_scale = max_cost > 0 ? kCostScale / max_cost : 1.0;

  const auto started = std::chrono::steady_clock::now();
  auto seconds_since = [](auto start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  using Graph = lemon::StaticDigraph;
  Graph graph;
  std::vector<std::pair<int, int>> arcs;
  arcs.reserve(static_cast<std::size_t>(ns) * nt);
  for (int s = 0; s < ns; ++s)
    for (int t = 0; t < nt; ++t) arcs.emplace_back(s, ns + t);
  graph.build(ns + nt, arcs.begin(), arcs.end());
  arcs.clear();
  arcs.shrink_to_fit();

  Graph::ArcMap<std::int64_t> arc_cost(graph);
  for (int s = 0; s < ns; ++s)
    for (int t = 0; t < nt; ++t) {
      const double c = cost[sources[s] * m + targets[t]];
      arc_cost[graph.arc(s * nt + t)] = static_cast<std::int64_t>(std::llround(c * cost_scale));
    }
  Graph::NodeMap<std::int64_t> supply(graph);
  for (int s = 0; s < ns; ++s) supply[graph.node(s)] = supply_a[sources[s]];
  for (int t = 0; t < nt; ++t) supply[graph.node(ns + t)] = -supply_b[targets[t]];

  const double build_seconds = seconds_since(started);
  const auto solving = std::chrono::steady_clock::now();
  lemon::NetworkSimplex<Graph, std::int64_t, std::int64_t> simplex(graph);
  simplex.costMap(arc_cost).supplyMap(supply);
  const auto status = simplex.run();
  spdlog::debug("exact EMD {} x {}: graph {:.3f} s, network simplex {:.3f} s", ns, nt, build_seconds,
                seconds_since(solving));
  if (status != lemon::NetworkSimplex<Graph, std::int64_t, std::int64_t>::OPTIMAL)
    throw RuntimeError("network simplex did not find an optimal transport plan");

  ExactEmdResult result;
  result.source_potentials.assign(n, 0.0);
  result.target_potentials.assign(m, 0.0);
  for (int s = 0; s < ns; ++s) {
    for (int t = 0; t < nt; ++t) {
      const std::int64_t flow = simplex.flow(graph.arc(s * nt + t));
      if (flow <= 0) continue;
      const double mass = static_cast<double>(flow) / kMassScale;
      const std::int64_t i = sources[s], j = targets[t];
      result.plan.push_back(PlanEntry{i, j, mass});
      result.cost += mass * cost[i * m + j];
    }
  }
  // LEMON's potentials satisfy cost(s, t) + pi(s) - pi(t) >= 0, so
  // u = -pi(s), v = pi(t) are feasible duals: u_i + v_j <= C_ij.
  for (int s = 0; s < ns; ++s)
    result.source_potentials[sources[s]] = -static_cast<double>(simplex.potential(graph.node(s))) / cost_scale;
  for (int t = 0; t < nt; ++t)
    result.target_potentials[targets[t]] = static_cast<double>(simplex.potential(graph.node(ns + t))) / cost_scale;
  return result;
}

ExactEmdResult solve_exact_emd(PointCloudView x, const std::vector<double>& a, PointCloudView y,
                               const std::vector<double>& b, GroundCost cost) {
  CostBlock<double> block(x, y, cost, std::numeric_limits<std::int64_t>::max());
  std::vector<double> scratch;
  const double* values = block.row_tile(0, x.rows, scratch);
  std::vector<double> matrix(values, values + x.rows * y.rows);
  return solve_exact_emd(matrix, x.rows, y.rows, a, b);
}

}  // namespace taskrel::ot
