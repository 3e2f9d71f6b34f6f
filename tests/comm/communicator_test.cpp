#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "comm/mpi_communicator.h"

namespace taskrel {
namespace {

TEST(MpiCommunicator, AllReduceSumMaxMin) {
  auto world = MpiCommunicator::world();
  const int n = world.size();
  std::vector<double> values = {1.0, static_cast<double>(world.rank()), -static_cast<double>(world.rank())};
  world.all_reduce(values.data(), values.size(), ReduceOp::kSum);
  EXPECT_DOUBLE_EQ(values[0], n);
  EXPECT_DOUBLE_EQ(values[1], n * (n - 1) / 2.0);

  float as_float[2] = {static_cast<float>(world.rank()), static_cast<float>(world.rank())};
  world.all_reduce(as_float, 1, ReduceOp::kMax);
  world.all_reduce(as_float + 1, 1, ReduceOp::kMin);
  EXPECT_EQ(as_float[0], static_cast<float>(n - 1));
  EXPECT_EQ(as_float[1], 0.0f);

  EXPECT_EQ(world.all_reduce_sum(2LL), 2LL * n);
  EXPECT_EQ(world.all_reduce_max(static_cast<double>(world.rank())), n - 1);
}

TEST(MpiCommunicator, BroadcastAndStrings) {
  auto world = MpiCommunicator::world();
  std::string text = world.rank() == 0 ? "from rank zero" : "";
  world.broadcast_string(text, 0);
  EXPECT_EQ(text, "from rank zero");
  double value = world.rank() == world.size() - 1 ? 42.5 : 0.0;
  world.broadcast(&value, sizeof(value), world.size() - 1);
  EXPECT_EQ(value, 42.5);
  world.barrier();
}

TEST(MpiCommunicator, SplitIntoGroups) {
  auto world = MpiCommunicator::world();
  // Groups of two consecutive ranks, as ranks_per_triple = 2 would make.
  auto group = world.split(world.rank() / 2, world.rank());
  const int expected_size = std::min(2, world.size() - (world.rank() / 2) * 2);
  EXPECT_EQ(group->size(), expected_size);
  EXPECT_EQ(group->rank(), world.rank() % 2);
  // A sum inside the group only sees the group's ranks.
  EXPECT_EQ(group->all_reduce_sum(1LL), expected_size);
}

}  // namespace
}  // namespace taskrel
