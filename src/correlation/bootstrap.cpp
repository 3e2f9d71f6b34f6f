#include "correlation/bootstrap.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "core/error.h"

namespace taskrel::correlation {

namespace {

// Uniform in [0, n) without modulo bias, by rejecting the top partial block.
std::size_t uniform_index(std::mt19937_64& engine, std::size_t n) {
  const std::uint64_t range = static_cast<std::uint64_t>(n);
  const std::uint64_t limit = std::numeric_limits<std::uint64_t>::max() - std::numeric_limits<std::uint64_t>::max() % range;
  for (;;) {
    const std::uint64_t draw = engine();
    if (draw < limit) return static_cast<std::size_t>(draw % range);
  }
}

}  // namespace

double quantile(std::vector<double> values, double q) {
  TASKREL_ASSERT(!values.empty(), "quantile of no values");
  std::sort(values.begin(), values.end());
  const double position = q * static_cast<double>(values.size() - 1);
  const std::size_t below = static_cast<std::size_t>(std::floor(position));
  const std::size_t above = std::min(below + 1, values.size() - 1);
  const double fraction = position - static_cast<double>(below);
  return values[below] + fraction * (values[above] - values[below]);
}

BootstrapInterval bootstrap_interval(std::size_t n, std::size_t resamples, std::uint64_t seed, double level,
                                     const ResampledStatistic& statistic) {
  TASKREL_ASSERT(n > 0 && level > 0 && level < 1, "bootstrap of {} points at level {}", n, level);
  BootstrapInterval interval;
  std::mt19937_64 engine(seed);
  std::vector<std::size_t> indices(n);
  std::vector<double> values;
  values.reserve(resamples);
  interval.draws.reserve(resamples);
  for (std::size_t b = 0; b < resamples; ++b) {
    for (auto& index : indices) index = uniform_index(engine, n);
    const auto value = statistic(indices);
    if (value && std::isfinite(*value)) {
      values.push_back(*value);
      interval.draws.push_back(*value);
    } else {
      ++interval.dropped;
      interval.draws.push_back(std::nullopt);
    }
  }
  set_percentile_interval(interval, values, level);
  return interval;
}

void set_percentile_interval(BootstrapInterval& interval, const std::vector<double>& values, double level) {
  interval.used = values.size();
  if (values.empty()) return;
  interval.lower = quantile(values, 0.5 * (1 - level));
  interval.upper = quantile(values, 0.5 * (1 + level));
}

}  // namespace taskrel::correlation
