// The cost storage precision as relate and matrix choose it (CostPrecision,
// ot/sinkhorn.h): each device's default, what each backend refuses, and the
// solver options it sets.
#include <gtest/gtest.h>

#include "ot/sinkhorn.h"

namespace taskrel::ot {
namespace {

TEST(CostPrecision, EachDevicesDefaultAndWhatItRefuses) {
  EXPECT_EQ(default_cost_precision(Device::kCpu), CostPrecision::kFloat32);
  EXPECT_EQ(default_cost_precision(Device::kCuda), CostPrecision::kFloat16);
  for (auto p : {CostPrecision::kFloat64, CostPrecision::kFloat32}) EXPECT_EQ(cost_precision_problem(Device::kCpu, p), "");
  for (auto p : {CostPrecision::kFloat16, CostPrecision::kBFloat16}) EXPECT_NE(cost_precision_problem(Device::kCpu, p), "");
  for (auto p : {CostPrecision::kFloat32, CostPrecision::kFloat16, CostPrecision::kBFloat16})
    EXPECT_EQ(cost_precision_problem(Device::kCuda, p), "");
  EXPECT_NE(cost_precision_problem(Device::kCuda, CostPrecision::kFloat64), "");
}

TEST(CostPrecision, SetsTheStorageOfTheBackendThatSupportsIt) {
  SinkhornOptions options;
  set_cost_precision(options, CostPrecision::kFloat32);  // the CPU default: what relate always used there
  EXPECT_EQ(options.precision, Precision::kFloat32);
  EXPECT_EQ(options.gpu.storage, GpuStorage::kFloat32);
  set_cost_precision(options, CostPrecision::kFloat64);
  EXPECT_EQ(options.precision, Precision::kFloat64);
  SinkhornOptions half;
  set_cost_precision(half, CostPrecision::kFloat16);
  EXPECT_EQ(half.gpu.storage, GpuStorage::kFloat16);
  EXPECT_EQ(half.precision, Precision::kFloat32);
  set_cost_precision(half, CostPrecision::kBFloat16);
  EXPECT_EQ(half.gpu.storage, GpuStorage::kBFloat16);
}

}  // namespace
}  // namespace taskrel::ot
