// Correlation coefficients between a score and accuracy across encoders,
// each defined exactly as its scipy.stats counterpart so results can be
// checked against it:
//   pearson        scipy.stats.pearsonr
//   spearman       scipy.stats.spearmanr (Pearson on average ranks of ties)
//   kendall_tau_b  scipy.stats.kendalltau (variant 'b', ties corrected)
//   weighted_tau   scipy.stats.weightedtau with its defaults: hyperbolic
//                  weigher 1/(r+1), additive weights, rank=True (the mean of
//                  the values ranked by x-then-y and by y-then-x, highest first)
// A coefficient is undefined (std::nullopt) where scipy gives NaN: fewer
// than two points, or a constant input. Callers report that, never NaN.
// The encoder counts here are small (a zoo), so the O(n^2) pair sums are
// used: they are the definitions, and easy to check.
#pragma once

#include <optional>
#include <vector>

namespace taskrel::correlation {

std::optional<double> pearson(const std::vector<double>& x, const std::vector<double>& y);
std::optional<double> spearman(const std::vector<double>& x, const std::vector<double>& y);
std::optional<double> kendall_tau_b(const std::vector<double>& x, const std::vector<double>& y);
std::optional<double> weighted_tau(const std::vector<double>& x, const std::vector<double>& y);

// Ranks 1..n, tied values sharing the average of their ranks (scipy.stats.rankdata 'average').
std::vector<double> average_ranks(const std::vector<double>& values);

}  // namespace taskrel::correlation
