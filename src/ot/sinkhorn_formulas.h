// The formulas and thresholds of one Sinkhorn iteration that the CPU backend
// (sinkhorn.cpp) and the CUDA backend (sinkhorn.cu and its kernels) share, so
// the two cannot drift apart: the damping of a relaxed marginal and the
// ranges of stabilised sums trusted without an exact log-sum-exp.
#pragma once

#include <cmath>
#include <type_traits>

namespace taskrel::ot {

// Damping exponent of a KL-relaxed marginal: rho / (rho + eps), 1 if balanced.
inline double relaxation(double rho, double epsilon) { return std::isinf(rho) ? 1.0 : rho / (rho + epsilon); }

// A row's stabilised sum (stabilised by the current f_i: every summand is
// an entry of the current plan, at most 1) is trusted inside this range;
// outside it the row is redone as an exact max-shifted log-sum-exp.
inline constexpr double kSmallestTrustedRowSum = 1e-30;
inline constexpr double kLargestTrustedRowSum = 1e30;

// Smallest stabilised column sum trusted without an exact recomputation when
// its summands were formed in precision T: below it they were near T's
// underflow and lost relative precision. The CPU keys it by its stored type
// T although its exponentials are float64 whatever T (so a float32 cost
// keeps float's threshold, as it always had: changing that would change CPU
// results); the CUDA backend uses float's (its exponentials are float32).
template <typename T>
constexpr double smallest_trusted_column_sum() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>);
  return std::is_same_v<T, float> ? 1e-25 : 1e-250;
}

}  // namespace taskrel::ot
