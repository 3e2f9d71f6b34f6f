// The metric registry (names, --metrics parsing) and robustness: degenerate
// inputs give finite values, never NaN.
#include <cmath>
#include <random>

#include <gtest/gtest.h>

#include "core/error.h"
#include "baselines/registry.h"

using namespace taskrel;
using namespace taskrel::baselines;

TEST(MetricSelection, AllNoneAndLists) {
  EXPECT_EQ(parse_metric_selection("all"), metric_names());
  EXPECT_EQ(parse_metric_selection("ALL"), metric_names());
  EXPECT_TRUE(parse_metric_selection("none").empty());
  // Registry order, duplicates dropped, blanks and case ignored.
  EXPECT_EQ(parse_metric_selection(" LEEP, logme,leep "), (std::vector<std::string>{"logme", "leep"}));
  EXPECT_EQ(metric_names().size(), 12u);
}

TEST(MetricSelection, UnknownNameListsTheValidOnes) {
  try {
    parse_metric_selection("logme,bogus");
    FAIL() << "no error";
  } catch (const InputError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("bogus"), std::string::npos);
    for (const auto& name : metric_names()) EXPECT_NE(message.find(name), std::string::npos) << name;
  }
}

namespace {

MetricInput random_input(std::int64_t n, std::int64_t d, std::int64_t classes, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  MetricInput input;
  input.target_features = Matrix(n, d);
  input.reference_features = Matrix(n, d);
  for (Eigen::Index i = 0; i < n; ++i)
    for (Eigen::Index j = 0; j < d; ++j) {
      input.target_features(i, j) = normal(rng);
      input.reference_features(i, j) = normal(rng);
    }
  input.target_classes = input.reference_classes = classes;
  for (std::int64_t i = 0; i < n; ++i) {
    input.target_labels.push_back(i % classes);
    input.reference_labels.push_back(i % classes);
  }
  input.source_probabilities = Matrix::Constant(n, classes, 1.0 / static_cast<double>(classes));
  input.seed = seed;
  return input;
}

void expect_all_finite(const MetricInput& input, const char* what) {
  const auto values = compute_metrics(input, metric_names());
  ASSERT_EQ(values.size(), metric_names().size());
  for (const auto& v : values) EXPECT_TRUE(std::isfinite(v.value)) << what << ": " << v.name << " = " << v.value;
}

}  // namespace

TEST(MetricRobustness, DimensionAboveSamples) { expect_all_finite(random_input(12, 40, 3, 1), "d > n"); }

TEST(MetricRobustness, ClassWithOneSample) {
  MetricInput input = random_input(30, 5, 3, 2);
  for (auto& y : input.target_labels)
    if (y == 2) y = 1;
  input.target_labels[7] = 2;  // class 2 has one row
  expect_all_finite(input, "one-sample class");
}

TEST(MetricRobustness, RankDeficientAndConstantFeatures) {
  MetricInput input = random_input(40, 6, 4, 3);
  input.target_features.col(3) = input.target_features.col(1) * 2.0;  // rank-deficient
  input.target_features.col(5).setConstant(0.5);
  expect_all_finite(input, "rank-deficient");
  input.target_features.setZero();
  expect_all_finite(input, "constant features");
}

TEST(MetricRobustness, AbsentClassAndPeakedProbabilities) {
  MetricInput input = random_input(30, 4, 3, 4);
  input.target_classes = 5;  // classes 3 and 4 never occur
  input.source_probabilities.setZero();
  input.source_probabilities.col(0).setOnes();  // a one-hot source model
  expect_all_finite(input, "absent class");
}

TEST(MetricValues, PerfectSourceModelGivesZeroLeepAndNce) {
  MetricInput input = random_input(24, 3, 4, 5);
  input.source_probabilities.setZero();
  for (std::int64_t i = 0; i < 24; ++i) input.source_probabilities(i, (input.target_labels[i] + 1) % 4) = 1.0;
  const auto values = compute_metrics(input, parse_metric_selection("leep,nce"));
  EXPECT_NEAR(values[0].value, 0.0, 1e-12);
  EXPECT_NEAR(values[1].value, 0.0, 1e-12);
}
