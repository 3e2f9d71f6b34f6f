// The CUDA Sinkhorn against the CPU backend (float64), with per-precision
// tolerances and printed seeds: balanced (both ground costs), unbalanced,
// label-aware, small epsilon (exact fallbacks), stored vs online vs banded,
// sharded over the ranks of mpiexec (host all-reduce), and the NCCL
// communicator (one rank per GPU; ranks sharing a GPU refused). Every test
// skips itself, saying so, when no GPU is visible; one test checks the error
// a GPU-less machine gives.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <string>

#include "comm/cuda_check.h"
#include "comm/mpi_communicator.h"
#include "comm/nccl_communicator.h"
#include "comm/row_blocks.h"
#include "core/error.h"
#include "ot/label_aware.h"
#include "ot/sinkhorn.h"
#include "../ot/random_problem.h"

namespace taskrel::ot {
namespace {

#define SKIP_WITHOUT_GPU()                                                                  \
  do {                                                                                      \
    if (!cuda_device_available()) GTEST_SKIP() << "no CUDA device visible: GPU test skipped"; \
  } while (false)

struct Problem {
  std::int64_t n, m, dim;
  unsigned seed;
  std::vector<float> x, y;
  std::vector<double> a, b;
};

Problem make_problem(std::int64_t n, std::int64_t m, std::int64_t dim, unsigned seed) {
  std::printf("[ seed     ] %u (n = %lld, m = %lld, d = %lld)\n", seed, static_cast<long long>(n),
              static_cast<long long>(m), static_cast<long long>(dim));
  return Problem{n, m, dim, seed, testing::random_points(n, dim, seed), testing::random_points(m, dim, seed + 1, 0.5f),
                 testing::random_weights(n, seed + 2), testing::random_weights(m, seed + 3)};
}

SinkhornResult solve_sharded(Communicator& comm, const Problem& p, const SinkhornOptions& options) {
  const RowBlock block = shard_rows(p.n, comm.rank(), comm.size());
  std::vector<double> a_local(p.a.begin() + block.begin, p.a.begin() + block.end);
  PointCloudView x_local{p.x.data() + block.begin * p.dim, block.size(), p.dim};
  return solve_sinkhorn(comm, x_local, a_local, view_of(p.y, p.m, p.dim), p.b, options);
}

SinkhornOptions cpu_reference() {
  SinkhornOptions options;
  options.precision = Precision::kFloat64;
  options.tolerance = 1e-7;
  options.max_iterations = 5000;
  return options;
}

SinkhornOptions on_gpu(SinkhornOptions options, GpuStorage storage, GemmPrecision gemm) {
  options.device = Device::kCuda;
  options.precision = Precision::kFloat32;
  options.gpu.storage = storage;
  options.gpu.gemm = gemm;
  return options;
}

struct Tolerance {
  GpuStorage storage;
  GemmPrecision gemm;
  double relative;  // of cost and objective (the stored cost's relative error bound, with margin)
};

// float32 storage: float32 exponent rounding only; 16-bit: the documented bound
// 2^-11 (float16) or 2^-8 (bfloat16) of the cost; the GEMM inputs' rounding.
const Tolerance kTolerances[] = {
    {GpuStorage::kFloat32, GemmPrecision::kFloat32, 2e-5},  {GpuStorage::kFloat32, GemmPrecision::kTf32, 2e-3},
    {GpuStorage::kFloat16, GemmPrecision::kFloat32, 1e-3},  {GpuStorage::kBFloat16, GemmPrecision::kFloat32, 8e-3},
    {GpuStorage::kFloat16, GemmPrecision::kBFloat16, 1e-2},
};

void expect_close(const SinkhornResult& gpu, const SinkhornResult& cpu, double relative, const std::string& what) {
  SCOPED_TRACE(what);
  EXPECT_EQ(gpu.device, Device::kCuda);
  EXPECT_TRUE(gpu.converged) << "marginal error " << gpu.marginal_error;
  EXPECT_NEAR(gpu.transport_cost, cpu.transport_cost, relative * std::abs(cpu.transport_cost));
  EXPECT_NEAR(gpu.objective, cpu.objective, relative * std::abs(cpu.transport_cost));
  EXPECT_NEAR(gpu.epsilon, cpu.epsilon, relative * cpu.epsilon);
  ASSERT_EQ(gpu.potentials.g.size(), cpu.potentials.g.size());
  // Potentials are defined up to a constant shift (balanced): compare centred g.
  double gpu_mean = 0.0, cpu_mean = 0.0;
  for (std::size_t j = 0; j < cpu.potentials.g.size(); ++j) {
    gpu_mean += gpu.potentials.g[j];
    cpu_mean += cpu.potentials.g[j];
  }
  gpu_mean /= cpu.potentials.g.size();
  cpu_mean /= cpu.potentials.g.size();
  double worst = 0.0;
  for (std::size_t j = 0; j < cpu.potentials.g.size(); ++j)
    worst = std::max(worst, std::abs((gpu.potentials.g[j] - gpu_mean) - (cpu.potentials.g[j] - cpu_mean)));
  // 16-bit costs move each potential by about the cost's error; 5x as margin.
  EXPECT_LT(worst, 5 * relative * cpu.max_cost + 1e-6 * cpu.mean_cost) << "largest potential difference";
}

TEST(GpuSinkhorn, BalancedMatchesCpuForEveryPrecision) {
  SKIP_WITHOUT_GPU();
  auto world = MpiCommunicator::world();
  for (auto cost : {GroundCost::kEuclidean, GroundCost::kSquaredEuclidean}) {
    const Problem p = make_problem(700, 500, 48, 101);
    SinkhornOptions base = cpu_reference();
    base.cost = cost;
    const SinkhornResult cpu = solve_sharded(world, p, base);
    ASSERT_TRUE(cpu.converged);
    for (const Tolerance& t : kTolerances) {
      SinkhornOptions gpu = on_gpu(base, t.storage, t.gemm);
      gpu.tolerance = 1e-6;
      const SinkhornResult result = solve_sharded(world, p, gpu);
      expect_close(result, cpu, t.relative,
                   std::string(enum_name(cost)) + " storage " + enum_name(t.storage) + " gemm " + enum_name(t.gemm));
    }
  }
}

TEST(GpuSinkhorn, UnbalancedAndSemiRelaxedMatchCpu) {
  SKIP_WITHOUT_GPU();
  auto world = MpiCommunicator::world();
  const Problem p = make_problem(400, 300, 16, 202);
  for (auto [rho_source, rho_target] : {std::pair{1.0, 1.0}, std::pair{0.5, std::numeric_limits<double>::infinity()}}) {
    SinkhornOptions base = cpu_reference();
    base.rho_source = rho_source;
    base.rho_target = rho_target;
    const SinkhornResult cpu = solve_sharded(world, p, base);
    SinkhornOptions gpu = on_gpu(base, GpuStorage::kFloat32, GemmPrecision::kFloat32);
    gpu.tolerance = 1e-7;
    const SinkhornResult result = solve_sharded(world, p, gpu);
    SCOPED_TRACE("rho " + std::to_string(rho_source) + " / " + std::to_string(rho_target));
    EXPECT_NEAR(result.transport_cost, cpu.transport_cost, 1e-4 * cpu.transport_cost);
    EXPECT_NEAR(result.objective, cpu.objective, 1e-4 * std::abs(cpu.transport_cost));
    EXPECT_NEAR(result.transported_mass, cpu.transported_mass, 1e-4 * cpu.transported_mass);
  }
}

TEST(GpuSinkhorn, SmallEpsilonStaysFiniteAndAgrees) {
  SKIP_WITHOUT_GPU();
  auto world = MpiCommunicator::world();
  const Problem p = make_problem(300, 260, 8, 303);
  SinkhornOptions base = cpu_reference();
  base.epsilon = 0.002;
  base.tolerance = 1e-5;
  base.max_iterations = 20000;
  const SinkhornResult cpu = solve_sharded(world, p, base);
  SinkhornOptions gpu = on_gpu(base, GpuStorage::kFloat32, GemmPrecision::kFloat32);
  const SinkhornResult result = solve_sharded(world, p, gpu);
  std::printf("[ info     ] epsilon %.3g: %d GPU iterations, %d exact column fallbacks; CPU %d iterations\n",
              result.epsilon, result.iterations, result.exact_column_fallbacks, cpu.iterations);
  EXPECT_TRUE(std::isfinite(result.transport_cost));
  EXPECT_NEAR(result.transport_cost, cpu.transport_cost, 1e-3 * cpu.transport_cost);
}

TEST(GpuSinkhorn, StoredOnlineAndBandedGiveTheSameAnswer) {
  SKIP_WITHOUT_GPU();
  auto world = MpiCommunicator::world();
  const Problem p = make_problem(1000, 700, 24, 404);
  SinkhornOptions stored = on_gpu(cpu_reference(), GpuStorage::kFloat16, GemmPrecision::kFloat32);
  stored.tolerance = 1e-6;
  SinkhornOptions online = stored;
  online.memory_budget_bytes = 0;
  online.gpu.band_rows = 256;
  SinkhornOptions banded = stored;
  banded.gpu.band_rows = 128;
  const SinkhornResult a = solve_sharded(world, p, stored);
  const SinkhornResult b = solve_sharded(world, p, online);
  const SinkhornResult c = solve_sharded(world, p, banded);
  EXPECT_TRUE(a.cost_stored);
  EXPECT_FALSE(b.cost_stored);
  // Bands: the same cost values, kernels and summation order, so identical
  // results. Online: cuBLAS may pick another algorithm for the smaller GEMM
  // (seen on an H100: 2e-7 relative), so the costs agree to rounding.
  EXPECT_EQ(a.iterations, c.iterations);
  EXPECT_EQ(a.transport_cost, c.transport_cost);
  EXPECT_NEAR(a.iterations, b.iterations, 2);
  EXPECT_NEAR(a.transport_cost, b.transport_cost, 1e-6 * a.transport_cost);
  // Deterministic: the same solve twice gives the same bits.
  const SinkhornResult again = solve_sharded(world, p, stored);
  EXPECT_EQ(a.transport_cost, again.transport_cost);
  EXPECT_EQ(a.potentials.g, again.potentials.g);
}

TEST(GpuSinkhorn, WarmStartAndEpsilonScalingWork) {
  SKIP_WITHOUT_GPU();
  auto world = MpiCommunicator::world();
  const Problem p = make_problem(300, 200, 8, 505);
  SinkhornOptions gpu = on_gpu(cpu_reference(), GpuStorage::kFloat32, GemmPrecision::kFloat32);
  gpu.tolerance = 1e-6;
  const SinkhornResult cold = solve_sharded(world, p, gpu);
  const SinkhornResult warm = solve_sharded(world, p, [&] {
    SinkhornOptions o = gpu;
    return o;
  }());
  const RowBlock block = shard_rows(p.n, world.rank(), world.size());
  std::vector<double> a_local(p.a.begin() + block.begin, p.a.begin() + block.end);
  const SinkhornResult restarted =
      solve_sinkhorn(world, PointCloudView{p.x.data() + block.begin * p.dim, block.size(), p.dim}, a_local,
                     view_of(p.y, p.m, p.dim), p.b, gpu, &cold.potentials);
  EXPECT_LE(restarted.iterations, 3);
  EXPECT_NEAR(restarted.transport_cost, cold.transport_cost, 1e-6 * cold.transport_cost);
  SinkhornOptions scaled = gpu;
  scaled.epsilon_scaling = true;
  const SinkhornResult annealed = solve_sharded(world, p, scaled);
  EXPECT_GT(annealed.stages, 1);
  EXPECT_NEAR(annealed.transport_cost, warm.transport_cost, 1e-4 * warm.transport_cost);
}

TEST(GpuSinkhorn, ShardedOverAllRanksMatchesOneRank) {
  SKIP_WITHOUT_GPU();
  auto world = MpiCommunicator::world();
  auto alone = world.split(world.rank(), 0);
  const Problem p = make_problem(501, 333, 20, 606);
  SinkhornOptions gpu = on_gpu(cpu_reference(), GpuStorage::kFloat32, GemmPrecision::kFloat32);
  gpu.tolerance = 1e-6;
  const SinkhornResult sharded = solve_sharded(world, p, gpu);
  const SinkhornResult single = solve_sharded(*alone, p, gpu);
  EXPECT_TRUE(sharded.converged);
  EXPECT_NEAR(sharded.transport_cost, single.transport_cost, 1e-6 * single.transport_cost);
  for (std::size_t j = 0; j < single.potentials.g.size(); ++j)
    EXPECT_NEAR(sharded.potentials.g[j], single.potentials.g[j], 1e-5 * single.max_cost);
}

TEST(GpuSinkhorn, LabelAwareMatchesCpu) {
  SKIP_WITHOUT_GPU();
  auto world = MpiCommunicator::world();
  const std::int64_t n = 360, m = 240, dim = 12;
  const int classes = 3;
  const unsigned seed = 707;
  std::printf("[ seed     ] %u\n", seed);
  const auto x = testing::random_points(n, dim, seed), y = testing::random_points(m, dim, seed + 1, 0.3f);
  std::vector<double> weights(n * classes);
  std::mt19937 engine(seed + 2);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  for (auto& w : weights) w = uniform(engine) / n;
  std::vector<std::int64_t> labels(m);
  for (std::int64_t j = 0; j < m; ++j) labels[j] = j % classes;
  const RowBlock block = shard_rows(n, world.rank(), world.size());
  LabelAwareProblem problem;
  problem.x_local = PointCloudView{x.data() + block.begin * dim, block.size(), dim};
  problem.class_weights.assign(weights.begin() + block.begin * classes, weights.begin() + block.end * classes);
  problem.y = view_of(y, m, dim);
  problem.y_labels = labels;
  problem.num_classes = classes;
  const LabelAwareResult cpu = solve_label_aware(world, problem, cpu_reference());
  SinkhornOptions gpu = on_gpu(cpu_reference(), GpuStorage::kFloat16, GemmPrecision::kFloat32);
  gpu.tolerance = 1e-6;
  const LabelAwareResult result = solve_label_aware(world, problem, gpu);
  EXPECT_TRUE(result.converged);
  EXPECT_NEAR(result.distance, cpu.distance, 1e-3 * cpu.distance);
  EXPECT_NEAR(result.mass_mismatch, cpu.mass_mismatch, 1e-12);
  for (int k = 0; k < classes; ++k)
    EXPECT_NEAR(result.classes[k].transport.transport_cost, cpu.classes[k].transport.transport_cost,
                1e-3 * cpu.classes[k].transport.transport_cost);
}

TEST(GpuNccl, AllReducesDeviceBuffersAndSolves) {
  SKIP_WITHOUT_GPU();
  auto world = MpiCommunicator::world();
  // One GPU here: NCCL runs one rank per communicator, so each rank gets its own.
  auto alone = world.split(world.rank(), 0);
  NcclCommunicator nccl(*alone, 60.0);
  double* device = nullptr;
  TASKREL_CUDA_CHECK(cudaMalloc(&device, 3 * sizeof(double)));
  const double values[3] = {1.5, -2.0, 3.25};
  TASKREL_CUDA_CHECK(cudaMemcpy(device, values, sizeof(values), cudaMemcpyHostToDevice));
  nccl.all_reduce_device(device, 3, ReduceOp::kSum, nullptr);
  double back[3] = {0, 0, 0};
  TASKREL_CUDA_CHECK(cudaMemcpy(back, device, sizeof(back), cudaMemcpyDeviceToHost));
  TASKREL_CUDA_CHECK(cudaFree(device));
  EXPECT_EQ(back[0], 1.5);
  EXPECT_EQ(back[2], 3.25);
  const Problem p = make_problem(200, 150, 8, 808);
  SinkhornOptions gpu = on_gpu(cpu_reference(), GpuStorage::kFloat32, GemmPrecision::kFloat32);
  gpu.tolerance = 1e-6;
  const SinkhornResult over_nccl = solve_sharded(nccl, p, gpu);
  const SinkhornResult over_mpi = solve_sharded(*alone, p, gpu);
  EXPECT_EQ(over_nccl.transport_cost, over_mpi.transport_cost);
}

TEST(GpuNccl, RanksSharingOneGpuAreRefused) {
  SKIP_WITHOUT_GPU();
  auto world = MpiCommunicator::world();
  if (world.size() < 2 || visible_cuda_devices() >= world.size())
    GTEST_SKIP() << "needs more ranks than GPUs (run under mpiexec -n 2 on one GPU)";
  try {
    NcclCommunicator nccl(world, 30.0);
    FAIL() << "two ranks on one GPU were accepted";
  } catch (const RuntimeError& error) {
    EXPECT_NE(std::string(error.what()).find("share one GPU"), std::string::npos) << error.what();
  }
}

TEST(GpuSinkhorn, WithoutAGpuCudaIsAClearError) {
  if (cuda_device_available()) GTEST_SKIP() << "a GPU is visible: the no-GPU error cannot be produced";
  auto world = MpiCommunicator::world();
  const Problem p = make_problem(20, 10, 4, 909);
  SinkhornOptions gpu = on_gpu(cpu_reference(), GpuStorage::kFloat32, GemmPrecision::kFloat32);
  try {
    solve_sharded(world, p, gpu);
    FAIL() << "--device cuda without a GPU did not fail";
  } catch (const RuntimeError& error) {
    EXPECT_NE(std::string(error.what()).find("no usable CUDA device"), std::string::npos) << error.what();
  }
  EXPECT_EQ(default_device(), Device::kCpu);
  EXPECT_TRUE(cuda_backend_built());
  SinkhornOptions float64 = gpu;
  float64.precision = Precision::kFloat64;
  EXPECT_THROW(solve_sharded(world, p, float64), InputError);
}

}  // namespace
}  // namespace taskrel::ot
