// Entropic optimal transport between weighted point clouds, solved with a
// log-domain Sinkhorn whose rows are sharded over the ranks of a
// Communicator.
//
// Problem: min_P <P, C> + epsilon * sum P (log P - 1)  [+ rho_a KL(P1 | a) + rho_b KL(P^T 1 | b)]
// (for balanced problems, where sum P = 1, this is POT's <P, M> + reg sum P log P minus epsilon)
// with P = exp((f_i + g_j - C_ij) / epsilon). The balanced problem has
// rho = infinity on both sides; a finite rho relaxes that marginal (unbalanced,
// or semi-relaxed when only one side is finite).
//
// Epsilon semantics: `epsilon` is absolute when `epsilon_mode` is kAbsolute,
// and a multiple of the mean ground cost over all pairs when kRelative
// (the default, so one value works for any feature scale). The result
// reports the absolute value used.
//
// Sharding: each rank passes its own rows of X (and their weights a); Y and b
// are replicated. Per iteration a rank updates its f locally in one fused
// pass over its cost rows that also accumulates the column sums of the new
// plan, stabilised by the current g (so every summand is at most 1 and the
// sums cannot overflow); one all-reduce of m + 1 doubles combines them. A
// column whose stabilised sum underflows is recomputed as an exact
// log-sum-exp with max and sum all-reduces. Results agree across rank counts
// to floating-point tolerance.
//
// Devices: `device` picks the CPU backend (this file's sinkhorn.cpp) or the
// CUDA backend (sinkhorn.cu, built with TASKREL_CUDA=ON), which runs the same
// sharded iteration on this rank's GPU: cost by cuBLAS GEMM, a row kernel for
// f and a column kernel for the column sums of the updated plan, the m + 1
// sums all-reduced over NCCL (when comm is an NcclCommunicator) or through the
// host. Asking for cuda in a build without it throws InputError: there is no
// silent fall-back to the CPU. The GPU forms exponents in float32 (base 2,
// shifts subtracted exactly as added): with a float32 cost it matches the
// CPU's float64 solve to ~2e-5 relative (tests/gpu); 16-bit costs add their
// storage bound below. Measured speeds: bench/GPU_NOTES.md.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "ot/ground_cost.h"
#include "ot/memory_budget.h"
#include "ot/point_cloud.h"

namespace taskrel::ot {

enum class EpsilonMode { kRelative, kAbsolute };

enum class Device { kCpu, kCuda };
bool cuda_backend_built();       // this executable links the CUDA backend (ot/device_backend.h)
bool cuda_device_available();    // it does, and a GPU is visible to this process
Device default_device();         // cuda when available, else cpu

// Stored cost on the GPU. 16-bit storage holds C / s with s an upper bound of
// the cost (so the values lie in [0, 1]); each entry then carries a relative
// error of at most 2^-11 (float16) or 2^-8 (bfloat16) plus 2^-25 s absolute
// (float16 subnormals), and the entropic OT value moves by at most that
// relative amount (|OT(C') - OT(C)| <= max over the two optimal plans of
// <P, |C' - C|>). Halving the bytes halves the time of a bandwidth-bound
// iteration.
enum class GpuStorage { kFloat32, kFloat16, kBFloat16 };
// cuBLAS GEMM for ||x||^2 + ||y||^2 - 2 x.y: float32 (exact float32 products),
// tf32 (tensor cores, 10-bit mantissa inputs: ~5e-4 relative error of x.y),
// bfloat16 (inputs rounded to bf16, float32 accumulation: ~4e-3 of x.y; norms
// are taken of the rounded vectors so that ||x - x|| stays 0).
enum class GemmPrecision { kFloat32, kTf32, kBFloat16 };

// Storage precision of the cost block across both backends, as `relate` and
// `matrix` choose it: the CPU stores float64 or float32 (Precision; its
// exponentials are float64 either way), CUDA float32, float16 or bfloat16
// (GpuStorage; exponentials in float32).
enum class CostPrecision { kFloat64, kFloat32, kFloat16, kBFloat16 };
// The precision used when none is asked for: float32 on the CPU, float16 on
// CUDA (half the bytes of a bandwidth-bound iteration; bench/GPU_NOTES.md).
CostPrecision default_cost_precision(Device device);
// Empty when `device` can store the cost in `precision`, else why not.
std::string cost_precision_problem(Device device, CostPrecision precision);

struct GpuOptions {
  GpuStorage storage = GpuStorage::kFloat16;
  GemmPrecision gemm = GemmPrecision::kFloat32;
  // Rows per band of the row and column kernels (0: all rows when stored, a
  // few hundred MB of scratch when online). Bands that fit the L2 cache let
  // the column kernel re-read the rows the row kernel just read from L2.
  std::int64_t band_rows = 0;
  // The budget for a stored cost block is SinkhornOptions::memory_budget_bytes,
  // the same field as on the CPU.
};

struct SinkhornOptions {
  double epsilon = 0.05;                     // see EpsilonMode
  EpsilonMode epsilon_mode = EpsilonMode::kRelative;
  double tolerance = 1e-6;                   // L1 marginal error to stop at
  int max_iterations = 2000;                 // at the target epsilon
  // Anneal epsilon from the largest cost down to the target, warm-starting
  // each stage. Off by default: measured here it saved no iterations at
  // epsilon >= 0.003 x mean cost, and on near-identical clouds it left
  // potentials from which the target stage converged 1000x slower.
  bool epsilon_scaling = false;
  double scaling_factor = 0.5;               // epsilon multiplier per stage
  int iterations_per_stage = 10;             // cap for the annealing stages
  double rho_source = std::numeric_limits<double>::infinity();  // KL penalty on a
  double rho_target = std::numeric_limits<double>::infinity();  // KL penalty on b
  GroundCost cost = GroundCost::kEuclidean;
  Precision precision = Precision::kFloat32;
  // Bytes per rank for the stored cost block, honoured by both backends (a
  // block over it is recomputed tile by tile: online). kBackendDefaultBudget:
  // 4 GiB on the CPU, 3/4 of the GPU's free memory on CUDA (memory_budget.h).
  std::int64_t memory_budget_bytes = kBackendDefaultBudget;
  Device device = Device::kCpu;
  GpuOptions gpu;                            // used when device is kCuda
};

// Sets options.precision (CPU) and options.gpu.storage (CUDA) to `precision`;
// the one the device does not support is left at its default (callers check
// cost_precision_problem first).
void set_cost_precision(SinkhornOptions& options, CostPrecision precision);

// Potentials of a previous solve, used to warm-start. f holds this rank's rows.
struct Potentials {
  std::vector<double> f;
  std::vector<double> g;
};

struct SinkhornResult {
  double transport_cost = 0.0;   // <P, C>
  double objective = 0.0;        // the entropic objective above at the returned plan
  double epsilon = 0.0;          // absolute epsilon used
  double mean_cost = 0.0;        // mean of C over all pairs (uniform)
  double max_cost = 0.0;
  double marginal_error = 0.0;   // L1 error of the row marginal (balanced), or of the
                                 // fixed-point update (unbalanced), at the returned plan
  double transported_mass = 0.0; // sum of P (1 for balanced problems)
  int iterations = 0;            // all iterations, annealing stages included
  int stages = 0;                // epsilon values visited
  bool converged = false;
  bool cost_stored = false;      // cost block kept in memory (else recomputed)
  Device device = Device::kCpu;  // where it ran
  int exact_column_fallbacks = 0;
  double setup_seconds = 0.0;      // cost block and its statistics
  double iteration_seconds = 0.0;  // all Sinkhorn iterations
  Potentials potentials;         // f: this rank's rows; g: all columns
};

// Solves the problem between this rank's rows x_local (weights a_local) and
// the replicated y (weights b). Weights must be positive (callers drop
// zero-weight points). Balanced problems normalise both to total mass 1 over
// all ranks; relaxed ones keep the masses given.
// All ranks of `comm` must call this collectively with the same options.
SinkhornResult solve_sinkhorn(Communicator& comm, PointCloudView x_local,
                              const std::vector<double>& a_local, PointCloudView y,
                              const std::vector<double>& b, const SinkhornOptions& options,
                              const Potentials* warm_start = nullptr);

}  // namespace taskrel::ot

namespace taskrel {

template <>
struct EnumNames<ot::Device> {
  static constexpr const char* what = "device";
  static constexpr EnumName<ot::Device> names[] = {{ot::Device::kCpu, "cpu"}, {ot::Device::kCuda, "cuda"}};
};

template <>
struct EnumNames<ot::GpuStorage> {
  static constexpr const char* what = "GPU cost storage";
  static constexpr EnumName<ot::GpuStorage> names[] = {{ot::GpuStorage::kFloat32, "float32"},
                                                       {ot::GpuStorage::kFloat16, "float16"},
                                                       {ot::GpuStorage::kBFloat16, "bfloat16"}};
};

template <>
struct EnumNames<ot::CostPrecision> {
  static constexpr const char* what = "cost precision";
  static constexpr EnumName<ot::CostPrecision> names[] = {{ot::CostPrecision::kFloat64, "float64"},
                                                          {ot::CostPrecision::kFloat32, "float32"},
                                                          {ot::CostPrecision::kFloat16, "float16"},
                                                          {ot::CostPrecision::kBFloat16, "bfloat16"}};
};

template <>
struct EnumNames<ot::GemmPrecision> {
  static constexpr const char* what = "GEMM precision";
  static constexpr EnumName<ot::GemmPrecision> names[] = {{ot::GemmPrecision::kFloat32, "float32"},
                                                          {ot::GemmPrecision::kTf32, "tf32"},
                                                          {ot::GemmPrecision::kBFloat16, "bfloat16"}};
};

}  // namespace taskrel
