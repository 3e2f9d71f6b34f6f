// exp(x) for float64 arrays, written so the compiler vectorises it (no
// division, no branches, no table): the Sinkhorn row pass spends most of its
// time here. Eigen's float64 exp uses a rational approximation with a
// division, ~1.4x slower on the machines we measured.
//
// Method: x = k ln2 + r with |r| <= ln2/2 (Cody-Waite, two-part ln2), exp(r)
// by its Taylor polynomial of degree 11, times 2^k built from the exponent
// bits. Relative error below 2e-14 on [-708, 709] (tests/ot/fast_exp_test.cpp);
// inputs are clamped to that range, so the result is never 0, inf or NaN for
// finite input (exp(-708) ~ 3e-308 stands in for smaller values).
#pragma once

#include <cstdint>
#include <cstring>

namespace taskrel::ot {

inline void exp_in_place(double* __restrict values, std::int64_t count) {
  constexpr double kLog2e = 1.4426950408889634;
  constexpr double kLn2High = 6.93147180369123816490e-01;
  constexpr double kLn2Low = 1.90821492927058770002e-10;
  constexpr double kShifter = 6755399441055744.0;  // 1.5 * 2^52: rounds to an integer in the low bits
  constexpr std::int64_t kShifterBits = 0x4338000000000000LL;
  for (std::int64_t j = 0; j < count; ++j) {
    double x = values[j];
    x = x < -708.0 ? -708.0 : (x > 709.0 ? 709.0 : x);
    const double shifted = x * kLog2e + kShifter;
    const double k = shifted - kShifter;
    const double r = (x - k * kLn2High) - k * kLn2Low;
    double p = 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    std::int64_t bits;
    std::memcpy(&bits, &shifted, sizeof bits);
    const std::int64_t exponent_bits = (bits - kShifterBits + 1023) << 52;
    double scale;
    std::memcpy(&scale, &exponent_bits, sizeof scale);
    values[j] = p * scale;
  }
}

}  // namespace taskrel::ot
