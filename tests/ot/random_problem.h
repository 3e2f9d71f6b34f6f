// Seeded random point clouds for OT tests: every rank builds the same full
// problem and takes its own rows, so results can be compared across ranks.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace taskrel::ot::testing {

inline std::vector<float> random_points(std::int64_t rows, std::int64_t dim, unsigned seed, float shift = 0.0f) {
  std::mt19937 engine(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> out(static_cast<std::size_t>(rows * dim));
  for (auto& v : out) v = normal(engine) + shift;
  return out;
}

inline std::vector<double> random_weights(std::int64_t rows, unsigned seed) {
  std::mt19937 engine(seed);
  std::uniform_real_distribution<double> uniform(0.2, 1.0);
  std::vector<double> out(static_cast<std::size_t>(rows));
  double total = 0.0;
  for (auto& w : out) total += (w = uniform(engine));
  for (auto& w : out) w /= total;
  return out;
}

}  // namespace taskrel::ot::testing
