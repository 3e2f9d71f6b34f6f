// The stored-or-online rule both Sinkhorn backends apply to their cost block
// (ot/memory_budget.h), with SinkhornOptions::memory_budget_bytes as its one
// input: an explicit budget binds the GPU as it binds the CPU (it used to be
// read from a second field that --memory-budget never set), and the default
// is each backend's own.
#include <gtest/gtest.h>

#include "ot/memory_budget.h"
#include "ot/sinkhorn.h"

namespace taskrel::ot {
namespace {

constexpr double kGiB = double(std::int64_t{1} << 30);

TEST(MemoryBudget, OneFieldWhoseDefaultIsTheBackends) {
  const SinkhornOptions options;
  EXPECT_EQ(options.memory_budget_bytes, kBackendDefaultBudget);
  // CPU: 4 GiB, whatever the GPU has free.
  EXPECT_DOUBLE_EQ(resolved_memory_budget(options.memory_budget_bytes, false, 100 * kGiB), 4 * kGiB);
  EXPECT_TRUE(stores_cost_block(4 * kGiB, options.memory_budget_bytes, false, 0));
  EXPECT_FALSE(stores_cost_block(4 * kGiB + 1, options.memory_budget_bytes, false, 0));
  // CUDA: 3/4 of the free device memory.
  EXPECT_DOUBLE_EQ(resolved_memory_budget(options.memory_budget_bytes, true, 80 * kGiB), 60 * kGiB);
  EXPECT_TRUE(stores_cost_block(5 * kGiB, options.memory_budget_bytes, true, 80 * kGiB));
}

TEST(MemoryBudget, AnExplicitBudgetBindsBothBackends) {
  SinkhornOptions options;
  options.memory_budget_bytes = std::int64_t{1} << 30;  // what --memory-budget 1 sets
  for (bool on_gpu : {false, true}) {
    SCOPED_TRACE(on_gpu ? "cuda" : "cpu");
    EXPECT_DOUBLE_EQ(resolved_memory_budget(options.memory_budget_bytes, on_gpu, 80 * kGiB), kGiB);
    EXPECT_TRUE(stores_cost_block(kGiB, options.memory_budget_bytes, on_gpu, 80 * kGiB));
    EXPECT_FALSE(stores_cost_block(kGiB + 1, options.memory_budget_bytes, on_gpu, 80 * kGiB));
  }
  options.memory_budget_bytes = 0;  // online on either device
  EXPECT_FALSE(stores_cost_block(2, options.memory_budget_bytes, false, 0));
  EXPECT_FALSE(stores_cost_block(2, options.memory_budget_bytes, true, 80 * kGiB));
}

}  // namespace
}  // namespace taskrel::ot
