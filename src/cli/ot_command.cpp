// `taskrel ot`: optimal transport between two point clouds stored as .npy,
// by sharded log-domain Sinkhorn (default) or exact network simplex (--exact).
// Runs under mpiexec: the source rows are sharded over the ranks (read from a
// store, each rank reads only its own rows), the target is replicated.
#include <chrono>
#include <cmath>
#include <iostream>
#include <limits>
#include <memory>
#include <numeric>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "cli/option_flags.h"
#include "comm/row_blocks.h"
#include "core/error.h"
#include "io/embedding_store.h"
#include "io/npy.h"
#include "ot/device_backend.h"
#include "ot/exact_emd.h"
#include "ot/sinkhorn.h"

namespace taskrel::cli {

namespace {

struct OtOptions {
  std::string source;
  std::string target;
  std::string source_weights;
  std::string target_weights;
  ot::GroundCost cost = ot::GroundCost::kEuclidean;
  double epsilon = 0.05;
  bool absolute_epsilon = false;
  double tolerance = 1e-6;
  int max_iterations = 2000;
  bool epsilon_scaling = false;
  double rho = std::numeric_limits<double>::infinity();
  double rho_source = std::numeric_limits<double>::infinity();
  double rho_target = std::numeric_limits<double>::infinity();
  ot::Precision precision = ot::Precision::kFloat32;
  double memory_budget_gib = -1;  // unset: the backend's default (ot/memory_budget.h)
  std::optional<ot::Device> device;  // unset: cuda when built with it and a GPU is visible, else cpu
  ot::GpuStorage gpu_storage = ot::GpuStorage::kFloat16;
  ot::GemmPrecision gemm_precision = ot::GemmPrecision::kFloat32;
  bool no_nccl = false;
  bool exact = false;
  bool json = false;
  std::string potentials_out;

  void add_to(CLI::App& command) {
    command.add_option("--source", source,
                       "Source points X: X.npy (n x d), X.npz:NAME, or STORE.h5:/encoder/dataset/split "
                       "(each rank reads only its own rows)")->required();
    command.add_option("--target", target, "Target points Y, in the same forms (read by every rank)")->required();
    command.add_option("--source-weights", source_weights, "Source masses a (.npy, n); default uniform");
    command.add_option("--target-weights", target_weights, "Target masses b (.npy, m); default uniform");
    add_enum_flag(command, "--cost", cost, "Ground cost");
    command.add_option("--epsilon", epsilon, "Entropic regularisation, relative to the mean cost unless --absolute-epsilon")
        ->capture_default_str();
    command.add_flag("--absolute-epsilon", absolute_epsilon, "Read --epsilon as an absolute value");
    command.add_option("--tolerance", tolerance, "Stop when the L1 marginal error is below this")->capture_default_str();
    command.add_option("--max-iterations", max_iterations, "Iterations at the target epsilon")->capture_default_str();
    command.add_flag("--epsilon-scaling", epsilon_scaling,
                     "Anneal epsilon from the largest cost down to the target (default: start at the target)");
    command.add_option("--rho", rho, "KL penalty on both marginals (unbalanced OT); default: balanced");
    command.add_option("--rho-source", rho_source, "KL penalty on the source marginal only (semi-relaxed)");
    command.add_option("--rho-target", rho_target, "KL penalty on the target marginal only (semi-relaxed)");
    add_enum_flag(command, "--precision", precision, "Stored cost and exponentials");
    command.add_option("--memory-budget", memory_budget_gib,
                       "GiB per rank for a stored cost block, else recomputed every iteration; both devices "
                       "(default: 4 on the CPU, 3/4 of the GPU's free memory on cuda)")
        ->check(CLI::NonNegativeNumber);
    add_enum_flag(command, "--device", device,
                  "Where Sinkhorn runs (default: cuda when built with it and a GPU is visible)");
    add_enum_flag(command, "--gpu-storage", gpu_storage,
                  "--device cuda: stored cost precision (16-bit: relative error <= 2^-11 float16, 2^-8 bfloat16)");
    add_enum_flag(command, "--gemm-precision", gemm_precision, "--device cuda: GEMM of the cost");
    command.add_flag("--no-nccl", no_nccl,
                     "--device cuda on several ranks: all-reduce through MPI on the host instead of NCCL "
                     "(lets ranks share a GPU)");
    command.add_flag("--exact", exact, "Exact EMD by network simplex (single rank, up to ~10,000 points)");
    command.add_flag("--json", json, "Print the result as one JSON object");
    command.add_option("--potentials-out", potentials_out, "Write the potentials to PREFIX_f.npy and PREFIX_g.npy");
  }
};


// Points of one side: all rows (block = everything) or this rank's row block.
struct Points {
  std::int64_t total_rows = 0;
  std::int64_t dim = 0;
  RowBlock block;
  std::vector<float> values;  // block.size() x dim, row-major
};

// "STORE.h5:/encoder/dataset/split" addresses a split of an embedding store.
bool is_store_spec(const std::string& spec, std::string& store, std::vector<std::string>& parts) {
  for (const char* suffix : {".h5:", ".hdf5:"}) {
    const auto at = spec.find(suffix);
    if (at == std::string::npos) continue;
    const auto colon = at + std::string(suffix).size() - 1;
    store = spec.substr(0, colon);
    std::string path = spec.substr(colon + 1);
    parts.clear();
    std::size_t start = 0;
    while (start <= path.size()) {
      const auto slash = path.find('/', start);
      const std::string part = path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
      if (!part.empty()) parts.push_back(part);
      if (slash == std::string::npos) break;
      start = slash + 1;
    }
    if (parts.size() != 3)
      throw InputError(fmt::format("{}: expected STORE.h5:/encoder/dataset/split, got HDF5 path '{}'", spec, path));
    return true;
  }
  return false;
}

// Reads one side. Sharded: each rank holds only its own rows (from a store,
// a collective hyperslab read of just those rows).
Points load_points(const std::string& spec, Communicator& world, bool sharded) {
  Points out;
  std::string store;
  std::vector<std::string> parts;
  if (is_store_spec(spec, store, parts)) {
    io::EmbeddingBlock rows;
    if (sharded) {
      io::EmbeddingStoreReader reader(store, world);
      rows = reader.read_shard(parts[0], parts[1], parts[2], world);
      out.total_rows = reader.split_metadata(parts[0], parts[1], parts[2]).rows;
    } else {
      io::EmbeddingStoreReader reader(store);
      out.total_rows = reader.split_metadata(parts[0], parts[1], parts[2]).rows;
      rows = reader.read_rows(parts[0], parts[1], parts[2], 0, out.total_rows);
    }
    out.dim = rows.dim;
    out.block = rows.block;
    out.values = std::move(rows.embeddings);
    return out;
  }
  auto [path, member] = io::split_npz_spec(spec);
  io::FloatMatrix matrix = io::read_npy_matrix(path, member);
  out.total_rows = matrix.rows;
  out.dim = matrix.cols;
  out.block = sharded ? shard_rows(matrix.rows, world.rank(), world.size()) : RowBlock{0, matrix.rows};
  if (out.block.begin == 0 && out.block.end == matrix.rows) {
    out.values = std::move(matrix.values);
  } else {
    out.values.assign(matrix.values.begin() + out.block.begin * matrix.cols,
                      matrix.values.begin() + out.block.end * matrix.cols);
  }
  return out;
}

std::vector<double> read_weights(const std::string& spec, std::int64_t rows, const char* side) {
  if (spec.empty()) return std::vector<double>(static_cast<std::size_t>(rows), 1.0 / static_cast<double>(rows));
  auto [path, member] = io::split_npz_spec(spec);
  std::vector<double> weights = io::read_npy_vector(path, member);
  if (static_cast<std::int64_t>(weights.size()) != rows)
    throw InputError(fmt::format("{}: {} weights for {} {} points", spec, weights.size(), rows, side));
  double total = 0.0;
  for (std::size_t i = 0; i < weights.size(); ++i) {
    if (!std::isfinite(weights[i])) throw InputError(fmt::format("{}: weight {} is not finite ({})", spec, i, weights[i]));
    if (weights[i] < 0) throw InputError(fmt::format("{}: weight {} is negative ({})", spec, i, weights[i]));
    total += weights[i];
  }
  if (!(total > 0)) throw InputError(fmt::format("{}: the {} weights sum to zero", spec, side));
  return weights;
}

// Keeps the points with positive mass (zero-mass points take no part in a
// transport plan and their log-mass would be -inf).
struct PositiveMass {
  std::vector<float> points;
  std::vector<double> weights;
  std::vector<std::int64_t> rows;  // original row of each kept point
};

PositiveMass keep_positive(const Points& points, const std::vector<double>& weights) {
  PositiveMass out;
  for (std::int64_t local = 0; local < points.block.size(); ++local) {
    const std::int64_t i = points.block.begin + local;
    if (weights[i] <= 0) continue;
    const float* row = points.values.data() + local * points.dim;
    out.points.insert(out.points.end(), row, row + points.dim);
    out.weights.push_back(weights[i]);
    out.rows.push_back(i);
  }
  return out;
}

int run_ot(const OtOptions& options, Communicator& world) {
  const auto started = std::chrono::steady_clock::now();
  // The source is sharded over the ranks (exact EMD runs on one rank and
  // needs all of it); the target is replicated.
  const Points x = load_points(options.source, world, !options.exact);
  const Points y = load_points(options.target, world, false);
  if (x.total_rows == 0 || y.total_rows == 0)
    throw InputError(fmt::format("{}: empty point cloud", x.total_rows == 0 ? options.source : options.target));
  if (x.dim != y.dim)
    throw InputError(fmt::format("dimension mismatch: {} has d = {}, {} has d = {}", options.source, x.dim,
                                 options.target, y.dim));
  std::vector<double> a = read_weights(options.source_weights, x.total_rows, "source");
  std::vector<double> b = read_weights(options.target_weights, y.total_rows, "target");
  const bool balanced = std::isinf(options.rho) && std::isinf(options.rho_source) && std::isinf(options.rho_target);
  if (balanced) {
    const double total_a = std::accumulate(a.begin(), a.end(), 0.0);
    const double total_b = std::accumulate(b.begin(), b.end(), 0.0);
    if (std::abs(total_a - 1.0) > 1e-6 || std::abs(total_b - 1.0) > 1e-6)
      spdlog::warn("weights sum to {} (source) and {} (target); normalising both to 1", total_a, total_b);
  }

  nlohmann::json out;
  out["n"] = x.total_rows;
  out["m"] = y.total_rows;
  out["dim"] = x.dim;
  out["ground_cost"] = enum_name(options.cost);
  out["ranks"] = world.size();
  const ot::GroundCost ground = options.cost;

  if (options.exact) {
    if (!balanced) throw InputError("--exact solves balanced problems only (drop --rho*)");
    out["method"] = "exact";
    if (world.rank() == 0) {
      const auto result = ot::solve_exact_emd(ot::view_of(x.values, x.total_rows, x.dim), a,
                                              ot::view_of(y.values, y.total_rows, y.dim), b, ground);
      out["cost"] = result.cost;
      out["objective"] = result.cost;
      out["iterations"] = 0;
      out["marginal_error"] = 0.0;
      out["epsilon"] = 0.0;
      out["converged"] = true;
      out["plan_entries"] = result.plan.size();
      if (!options.potentials_out.empty()) {
        io::write_npy(options.potentials_out + "_f.npy", {x.total_rows}, result.source_potentials.data());
        io::write_npy(options.potentials_out + "_g.npy", {y.total_rows}, result.target_potentials.data());
      }
    }
  } else {
    ot::SinkhornOptions solver;
    solver.epsilon = options.epsilon;
    solver.epsilon_mode = options.absolute_epsilon ? ot::EpsilonMode::kAbsolute : ot::EpsilonMode::kRelative;
    solver.tolerance = options.tolerance;
    solver.max_iterations = options.max_iterations;
    solver.epsilon_scaling = options.epsilon_scaling;
    solver.rho_source = std::isinf(options.rho_source) ? options.rho : options.rho_source;
    solver.rho_target = std::isinf(options.rho_target) ? options.rho : options.rho_target;
    solver.cost = ground;
    solver.precision = options.precision;
    solver.memory_budget_bytes = options.memory_budget_gib < 0
                                     ? ot::kBackendDefaultBudget
                                     : static_cast<std::int64_t>(options.memory_budget_gib * (1ull << 30));
    solver.device = options.device.value_or(ot::default_device());
    solver.gpu.storage = options.gpu_storage;
    solver.gpu.gemm = options.gemm_precision;
    if (solver.device == ot::Device::kCuda && solver.precision == ot::Precision::kFloat64) {
      if (options.device)
        throw InputError("--precision float64 is CPU-only (the CUDA backend stores float32/float16/bfloat16 costs)");
      solver.device = ot::Device::kCpu;  // the default device yields to an explicit float64
    }
    // Several ranks on GPUs: the column all-reduce goes over NCCL on device
    // buffers; the communicator is created once here (it refuses ranks that
    // share a GPU, unless --no-nccl keeps the all-reduce on the host).
    std::unique_ptr<Communicator> device_comm;
    if (solver.device == ot::Device::kCuda && !options.no_nccl) device_comm = ot::make_device_communicator(world);
    Communicator& solve_comm = device_comm ? *device_comm : static_cast<Communicator&>(world);

    const RowBlock block = x.block;
    PositiveMass source = keep_positive(x, a);
    PositiveMass target = keep_positive(y, b);
    const long long dropped = world.all_reduce_sum(static_cast<long long>(block.size() - source.rows.size()));
    if (dropped > 0 || static_cast<std::int64_t>(target.rows.size()) < y.total_rows)
      spdlog::warn("{} source and {} target points have zero mass and take no part", dropped,
                   y.total_rows - static_cast<std::int64_t>(target.rows.size()));
    const auto result = ot::solve_sinkhorn(
        solve_comm, ot::PointCloudView{source.points.data(), static_cast<std::int64_t>(source.rows.size()), x.dim},
        source.weights, ot::PointCloudView{target.points.data(), static_cast<std::int64_t>(target.rows.size()), y.dim},
        target.weights, solver);
    out["method"] = "sinkhorn";
    out["cost"] = result.transport_cost;
    out["objective"] = result.objective;
    out["iterations"] = result.iterations;
    out["stages"] = result.stages;
    out["marginal_error"] = result.marginal_error;
    out["epsilon"] = result.epsilon;
    out["epsilon_mode"] = options.absolute_epsilon ? "absolute" : "relative";
    out["mean_cost"] = result.mean_cost;
    out["converged"] = result.converged;
    out["transported_mass"] = result.transported_mass;
    out["cost_stored"] = result.cost_stored;
    out["precision"] = enum_name(options.precision);
    out["device"] = enum_name(result.device);
    out["all_reduce"] = device_comm ? "nccl" : (world.size() > 1 ? "mpi" : "none");
    if (result.device == ot::Device::kCuda) {
      out["gpu_storage"] = enum_name(options.gpu_storage);
      out["gemm_precision"] = enum_name(options.gemm_precision);
    }
    out["exact_column_fallbacks"] = result.exact_column_fallbacks;
    out["setup_seconds"] = result.setup_seconds;
    out["iteration_seconds"] = result.iteration_seconds;
    out["seconds_per_iteration"] = result.iteration_seconds / std::max(1, result.iterations);
    if (!result.converged)
      spdlog::warn("Sinkhorn stopped after {} iterations with marginal error {:.3g} > tolerance {:.3g}",
                   result.iterations, result.marginal_error, options.tolerance);
    if (!options.potentials_out.empty()) {
      // Assemble f over the ranks (zero-mass points get -inf: no finite
      // potential is meaningful for them).
      std::vector<double> f(static_cast<std::size_t>(x.total_rows), 0.0);
      std::vector<double> missing(static_cast<std::size_t>(x.total_rows), 0.0);
      for (std::int64_t i = block.begin; i < block.end; ++i) missing[i] = 1.0;
      for (std::size_t k = 0; k < source.rows.size(); ++k) {
        f[source.rows[k]] = result.potentials.f[k];
        missing[source.rows[k]] = 0.0;
      }
      world.all_reduce(f, ReduceOp::kSum);
      world.all_reduce(missing, ReduceOp::kSum);
      std::vector<double> g(static_cast<std::size_t>(y.total_rows), -std::numeric_limits<double>::infinity());
      for (std::size_t k = 0; k < target.rows.size(); ++k) g[target.rows[k]] = result.potentials.g[k];
      for (std::size_t i = 0; i < f.size(); ++i)
        if (missing[i] > 0) f[i] = -std::numeric_limits<double>::infinity();
      if (world.rank() == 0) {
        io::write_npy(options.potentials_out + "_f.npy", {x.total_rows}, f.data());
        io::write_npy(options.potentials_out + "_g.npy", {y.total_rows}, g.data());
      }
    }
  }
  out["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  if (world.rank() == 0) {
    if (options.json) {
      std::cout << out.dump(2) << std::endl;
    } else {
      std::cout << fmt::format("{} OT between {} and {} points (d = {}, {} cost, {} rank{})\n",
                               out["method"].get<std::string>(), x.total_rows, y.total_rows, x.dim, enum_name(options.cost),
                               world.size(), world.size() > 1 ? "s" : "");
      std::cout << fmt::format("  transport cost  {:.10g}\n", out["cost"].get<double>());
      if (!options.exact) {
        std::cout << fmt::format("  objective       {:.10g}\n", out["objective"].get<double>());
        std::cout << fmt::format("  epsilon         {:.6g} ({})\n", out["epsilon"].get<double>(),
                                 out["epsilon_mode"].get<std::string>());
        std::cout << fmt::format("  iterations      {} in {} epsilon stages, converged: {}\n",
                                 out["iterations"].get<int>(), out["stages"].get<int>(),
                                 out["converged"].get<bool>() ? "yes" : "no");
        std::cout << fmt::format("  marginal error  {:.3g}\n", out["marginal_error"].get<double>());
        std::cout << fmt::format("  device          {}{}\n", out["device"].get<std::string>(),
                                 out.contains("gpu_storage")
                                     ? fmt::format(" ({} cost, {} GEMM, all-reduce: {})",
                                                   out["gpu_storage"].get<std::string>(),
                                                   out["gemm_precision"].get<std::string>(),
                                                   out["all_reduce"].get<std::string>())
                                     : std::string());
      }
      std::cout << fmt::format("  time            {:.3f} s\n", out["seconds"].get<double>());
    }
  }
  return kExitSuccess;
}

}  // namespace

void add_ot_command(CLI::App& root, CommandAction& action) {
  auto options = std::make_shared<OtOptions>();
  CLI::App* command = root.add_subcommand(
      "ot", "Optimal transport between two point clouds (.npy): sharded log-domain Sinkhorn or exact EMD");
  options->add_to(*command);
  command->callback([options, &action]() {
    action = [options](Communicator& world) { return run_ot(*options, world); };
  });
}

}  // namespace taskrel::cli
