#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "ot/fast_exp.h"

namespace taskrel::ot {
namespace {

TEST(FastExp, RelativeErrorBelow2e14OverTheWholeRange) {
  std::mt19937 engine(7);
  std::uniform_real_distribution<double> uniform(-708.0, 709.0);
  std::vector<double> x(200000);
  for (auto& v : x) v = uniform(engine);
  // Hand-picked points: 0, the reduction boundaries, tiny magnitudes.
  for (double v : {0.0, 1e-300, -1e-300, 0.34657359027997264, -0.34657359027997264, 1.0, -1.0, -708.0, 709.0})
    x.push_back(v);
  std::vector<double> y = x;
  exp_in_place(y.data(), static_cast<std::int64_t>(y.size()));
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double expected = std::exp(x[i]);
    ASSERT_LT(std::abs(y[i] - expected), 2e-14 * expected) << "x = " << x[i];
  }
}

TEST(FastExp, ClampsOutOfRangeInputsToFiniteValues) {
  std::vector<double> x = {-1e6, -746.0, 710.0, 1e6};
  exp_in_place(x.data(), static_cast<std::int64_t>(x.size()));
  EXPECT_GT(x[0], 0.0);
  EXPECT_LT(x[0], 1e-300);
  EXPECT_EQ(x[0], x[1]);
  EXPECT_TRUE(std::isfinite(x[2]));
  EXPECT_TRUE(std::isfinite(x[3]));
}

}  // namespace
}  // namespace taskrel::ot
