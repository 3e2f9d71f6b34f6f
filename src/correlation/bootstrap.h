// Percentile bootstrap over the encoders of one group: draw n encoders with
// replacement, recompute the statistic, and take the (1-level)/2 and
// (1+level)/2 percentiles of the resampled values (linear interpolation, as
// numpy.percentile). A resample where the statistic is undefined (e.g. all
// drawn scores equal) is dropped and counted, so the interval is never NaN.
// Deterministic for a seed: the draws come from a std::mt19937_64 and an
// explicit rejection sampler, not from a library distribution whose output
// may differ between standard libraries.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

namespace taskrel::correlation {

struct BootstrapInterval {
  std::optional<double> lower, upper;  // empty when no resample gave a value
  std::size_t used = 0;                // resamples that gave a value
  std::size_t dropped = 0;             // resamples where the statistic was undefined
  // The value of every resample in draw order (empty where undefined), so
  // statistics of several groups can be combined resample by resample.
  std::vector<std::optional<double>> draws;
};

// The percentile interval of values (at least one) at `level`.
void set_percentile_interval(BootstrapInterval& interval, const std::vector<double>& values, double level);

// Statistic of a resample given as indices into the group (size n, repeats allowed).
using ResampledStatistic = std::function<std::optional<double>(const std::vector<std::size_t>& indices)>;

BootstrapInterval bootstrap_interval(std::size_t n, std::size_t resamples, std::uint64_t seed, double level,
                                     const ResampledStatistic& statistic);

// The q-th quantile (0..1) of values, linear interpolation between order statistics.
double quantile(std::vector<double> values, double q);

}  // namespace taskrel::correlation
