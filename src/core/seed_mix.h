// splitmix64 (Steele, Lea & Flood 2014): a 64-bit seed mixer whose output does
// not depend on the standard library (std::hash and the <random>
// distributions are implementation-defined), so derived seeds, and what is
// drawn from them, are the same with every compiler.
#pragma once

#include <cstdint>

namespace taskrel {

inline constexpr std::uint64_t kSplitmixIncrement = 0x9E3779B97F4A7C15ull;

// One splitmix64 step: the state advanced by the increment, then finalised.
inline std::uint64_t splitmix64(std::uint64_t x) {
  x += kSplitmixIncrement;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace taskrel
