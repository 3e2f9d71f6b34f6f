// The memory budget of a stored cost block, one rule for both Sinkhorn
// backends (sinkhorn.cpp and sinkhorn.cu): a rank keeps its n_local x m cost
// block in memory when it fits the budget of SinkhornOptions, else it
// recomputes row tiles (CPU) or bands (CUDA) every iteration (online).
// SinkhornOptions::memory_budget_bytes is the only field either backend
// reads; kBackendDefaultBudget there means "the backend's own default".
#pragma once

#include <cstdint>

namespace taskrel::ot {

// Requested budget meaning "the default of the backend that runs the solve".
inline constexpr std::int64_t kBackendDefaultBudget = -1;
// The CPU backend's default, per rank.
inline constexpr std::int64_t kCpuDefaultMemoryBudget = std::int64_t{4} << 30;
// The CUDA backend's default: this fraction of the GPU's free memory.
inline constexpr double kGpuDefaultBudgetFraction = 0.75;

// Bytes a rank may spend on its stored cost block: `requested` when it is
// >= 0, else the default of `on_gpu`'s backend (the GPU's default needs its
// free memory, `free_device_bytes`; ignored on the CPU).
inline double resolved_memory_budget(std::int64_t requested, bool on_gpu, double free_device_bytes) {
  if (requested >= 0) return static_cast<double>(requested);
  return on_gpu ? kGpuDefaultBudgetFraction * free_device_bytes : static_cast<double>(kCpuDefaultMemoryBudget);
}

// Whether a block of `block_bytes` is stored (true) or recomputed (false).
inline bool stores_cost_block(double block_bytes, std::int64_t requested, bool on_gpu, double free_device_bytes) {
  return block_bytes <= resolved_memory_budget(requested, on_gpu, free_device_bytes);
}

}  // namespace taskrel::ot
