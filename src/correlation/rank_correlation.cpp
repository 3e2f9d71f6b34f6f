#include "correlation/rank_correlation.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"

namespace taskrel::correlation {

namespace {

int sign(double value) { return (value > 0) - (value < 0); }

// Indices ordered by (primary, secondary) descending: the order in which
// scipy's weightedtau hands out ranks 0, 1, ... (highest values first).
std::vector<std::size_t> descending_order(const std::vector<double>& primary, const std::vector<double>& secondary) {
  std::vector<std::size_t> order(primary.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    if (primary[a] != primary[b]) return primary[a] > primary[b];
    return secondary[a] > secondary[b];
  });
  return order;
}

// Weighted tau with the ranks of one lexicographic order: each pair (i, j)
// weighs 1/(r_i+1) + 1/(r_j+1); tau = sum w sgn(dx) sgn(dy) / sqrt(sum over
// pairs untied in x) / sqrt(sum over pairs untied in y). Joint ties drop out
// of all three sums, as in scipy. The ranks of joint ties are irrelevant:
// both members pair identically with every other point.
std::optional<double> weighted_tau_ranked(const std::vector<double>& x, const std::vector<double>& y) {
  const std::size_t n = x.size();
  const auto order = descending_order(x, y);
  std::vector<double> weight(n);
  for (std::size_t r = 0; r < n; ++r) weight[order[r]] = 1.0 / (static_cast<double>(r) + 1.0);
  double concordance = 0, untied_x = 0, untied_y = 0;
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = i + 1; j < n; ++j) {
      const double w = weight[i] + weight[j];
      const int sx = sign(x[i] - x[j]);
      const int sy = sign(y[i] - y[j]);
      concordance += w * (sx * sy);
      if (sx != 0) untied_x += w;
      if (sy != 0) untied_y += w;
    }
  }
  if (untied_x <= 0 || untied_y <= 0) return std::nullopt;
  return std::clamp(concordance / (std::sqrt(untied_x) * std::sqrt(untied_y)), -1.0, 1.0);
}

}  // namespace

std::optional<double> pearson(const std::vector<double>& x, const std::vector<double>& y) {
  TASKREL_ASSERT(x.size() == y.size(), "pearson: {} vs {} values", x.size(), y.size());
  const std::size_t n = x.size();
  if (n < 2) return std::nullopt;
  const double mean_x = std::accumulate(x.begin(), x.end(), 0.0) / static_cast<double>(n);
  const double mean_y = std::accumulate(y.begin(), y.end(), 0.0) / static_cast<double>(n);
  double sxx = 0, syy = 0, sxy = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double dx = x[i] - mean_x, dy = y[i] - mean_y;
    sxx += dx * dx;
    syy += dy * dy;
    sxy += dx * dy;
  }
  // A constant input: every value equal, so the deviations are exactly 0.
  if (std::all_of(x.begin(), x.end(), [&](double v) { return v == x[0]; }) ||
      std::all_of(y.begin(), y.end(), [&](double v) { return v == y[0]; }) || sxx <= 0 || syy <= 0)
    return std::nullopt;
  return std::clamp(sxy / (std::sqrt(sxx) * std::sqrt(syy)), -1.0, 1.0);
}

std::vector<double> average_ranks(const std::vector<double>& values) {
  const std::size_t n = values.size();
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return values[a] < values[b]; });
  std::vector<double> ranks(n);
  for (std::size_t start = 0; start < n;) {
    std::size_t end = start + 1;
    while (end < n && values[order[end]] == values[order[start]]) ++end;
    // Ranks start+1 .. end share their mean.
    const double rank = 0.5 * (static_cast<double>(start + 1) + static_cast<double>(end));
    for (std::size_t k = start; k < end; ++k) ranks[order[k]] = rank;
    start = end;
  }
  return ranks;
}

std::optional<double> spearman(const std::vector<double>& x, const std::vector<double>& y) {
  return pearson(average_ranks(x), average_ranks(y));
}

std::optional<double> kendall_tau_b(const std::vector<double>& x, const std::vector<double>& y) {
  TASKREL_ASSERT(x.size() == y.size(), "kendall: {} vs {} values", x.size(), y.size());
  const std::size_t n = x.size();
  if (n < 2) return std::nullopt;
  // Integer pair counts: exact, so the only rounding is the final division.
  long long concordance = 0, untied_x = 0, untied_y = 0;
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = i + 1; j < n; ++j) {
      const int sx = sign(x[i] - x[j]);
      const int sy = sign(y[i] - y[j]);
      concordance += sx * sy;
      untied_x += sx != 0;
      untied_y += sy != 0;
    }
  }
  if (untied_x == 0 || untied_y == 0) return std::nullopt;
  const double tau = static_cast<double>(concordance) /
                     std::sqrt(static_cast<double>(untied_x) * static_cast<double>(untied_y));
  return std::clamp(tau, -1.0, 1.0);
}

std::optional<double> weighted_tau(const std::vector<double>& x, const std::vector<double>& y) {
  TASKREL_ASSERT(x.size() == y.size(), "weighted tau: {} vs {} values", x.size(), y.size());
  if (x.size() < 2) return std::nullopt;
  const auto by_x = weighted_tau_ranked(x, y);
  const auto by_y = weighted_tau_ranked(y, x);
  if (!by_x || !by_y) return std::nullopt;
  return 0.5 * (*by_x + *by_y);
}

}  // namespace taskrel::correlation
