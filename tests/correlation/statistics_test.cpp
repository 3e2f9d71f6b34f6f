// Hand-checked cases of the coefficients and the bootstrap. The comparison
// with scipy.stats on random data with ties is correlate_test.py.
#include <gtest/gtest.h>

#include <cmath>

#include "correlation/bootstrap.h"
#include "correlation/rank_correlation.h"

namespace taskrel::correlation {
namespace {

TEST(RankCorrelation, KendallByHand) {
  // Pairs of (1,2,3,4) vs (1,3,2,4): 5 concordant, 1 discordant -> 4/6.
  EXPECT_DOUBLE_EQ(*kendall_tau_b({1, 2, 3, 4}, {1, 3, 2, 4}), 4.0 / 6.0);
  // A tie in x: pairs untied in x = 5, in y = 6; concordance 5 -> 5/sqrt(30).
  EXPECT_DOUBLE_EQ(*kendall_tau_b({1, 1, 2, 3}, {1, 2, 3, 4}), 5.0 / std::sqrt(30.0));
}

TEST(RankCorrelation, AverageRanksAndSpearman) {
  EXPECT_EQ(average_ranks({10, 20, 10, 30}), (std::vector<double>{1.5, 3, 1.5, 4}));
  EXPECT_DOUBLE_EQ(*spearman({1, 2, 3, 4}, {1, 4, 9, 16}), 1.0);
  EXPECT_DOUBLE_EQ(*spearman({1, 2, 3, 4}, {4, 3, 2, 1}), -1.0);
}

TEST(RankCorrelation, PerfectAndUndefined) {
  EXPECT_NEAR(*pearson({1, 2, 3}, {2, 4, 6}), 1.0, 1e-15);
  EXPECT_NEAR(*weighted_tau({1, 2, 3, 4}, {5, 6, 7, 8}), 1.0, 1e-15);
  EXPECT_NEAR(*weighted_tau({1, 2, 3, 4}, {8, 7, 6, 5}), -1.0, 1e-15);
  for (auto f : {&pearson, &spearman, &kendall_tau_b, &weighted_tau}) {
    EXPECT_FALSE(f({1, 1, 1}, {1, 2, 3}));
    EXPECT_FALSE(f({1, 2, 3}, {4, 4, 4}));
    EXPECT_FALSE(f({1}, {2}));
  }
}

TEST(Bootstrap, QuantileInterpolatesLikeNumpy) {
  // numpy.percentile([1, 2, 3, 4], 25) == 1.75
  EXPECT_DOUBLE_EQ(quantile({4, 1, 3, 2}, 0.25), 1.75);
  EXPECT_DOUBLE_EQ(quantile({5}, 0.975), 5.0);
}

TEST(Bootstrap, ReproducibleForASeedAndDropsUndefinedResamples) {
  const std::vector<double> x = {1, 2, 3, 4, 5, 6, 7, 8}, y = {1.2, 1.9, 3.4, 3.9, 5.5, 5.8, 7.1, 8.3};
  auto statistic = [&](const std::vector<std::size_t>& indices) {
    std::vector<double> a, b;
    for (auto i : indices) a.push_back(x[i]), b.push_back(y[i]);
    return pearson(a, b);
  };
  const auto first = bootstrap_interval(x.size(), 500, 7, 0.95, statistic);
  const auto again = bootstrap_interval(x.size(), 500, 7, 0.95, statistic);
  const auto other = bootstrap_interval(x.size(), 500, 8, 0.95, statistic);
  EXPECT_EQ(*first.lower, *again.lower);
  EXPECT_EQ(*first.upper, *again.upper);
  EXPECT_NE(*first.lower, *other.lower);
  EXPECT_EQ(first.used + first.dropped, 500u);
  const double point = *pearson(x, y);
  EXPECT_LE(*first.lower, point);
  EXPECT_GE(*first.upper, point);
  // Two points: a resample drawing one of them twice is constant and dropped.
  auto two = [&](const std::vector<std::size_t>& indices) {
    std::vector<double> a, b;
    for (auto i : indices) a.push_back(x[i]), b.push_back(y[i]);
    return pearson(a, b);
  };
  const auto small = bootstrap_interval(2, 1000, 1, 0.95, two);
  EXPECT_GT(small.dropped, 300u);
  EXPECT_GT(small.used, 300u);
  EXPECT_EQ(small.used + small.dropped, 1000u);
}

}  // namespace
}  // namespace taskrel::correlation
