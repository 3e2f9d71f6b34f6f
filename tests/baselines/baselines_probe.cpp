// Test driver: prints every baseline metric for .npy inputs as JSON, so
// check_metrics.py can compare each with its independent numpy/scipy/sklearn
// implementation. Usage:
//   baselines_probe DIR
// with DIR/{z_t.npy, y_t.npy, probs.npy, z_r.npy, y_r.npy} (features float,
// labels int, probs float) and optional DIR/meta.npy = [K_T, K_R, seed, ot_cap].
#include <iostream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/npy.h"
#include "baselines/registry.h"

using namespace taskrel;

namespace {

baselines::Matrix read_matrix(const std::string& path) {
  const io::FloatMatrix m = io::read_npy_matrix(path);
  baselines::Matrix out(m.rows, m.cols);
  for (std::int64_t i = 0; i < m.rows; ++i)
    for (std::int64_t j = 0; j < m.cols; ++j) out(i, j) = m.values[i * m.cols + j];
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: baselines_probe DIR\n";
    return 2;
  }
  const std::string dir = argv[1];
  try {
    baselines::MetricInput input;
    input.target_features = read_matrix(dir + "/z_t.npy");
    input.target_labels = io::read_npy_labels(dir + "/y_t.npy");
    input.source_probabilities = read_matrix(dir + "/probs.npy");
    input.reference_features = read_matrix(dir + "/z_r.npy");
    input.reference_labels = io::read_npy_labels(dir + "/y_r.npy");
    const auto meta = io::read_npy_vector(dir + "/meta.npy");
    input.target_classes = static_cast<std::int64_t>(meta.at(0));
    input.reference_classes = static_cast<std::int64_t>(meta.at(1));
    input.seed = static_cast<std::uint64_t>(meta.at(2));
    input.ot_points_per_side = static_cast<std::int64_t>(meta.at(3));
    nlohmann::json out;
    for (const auto& value : baselines::compute_metrics(input, baselines::metric_names()))
      out["metrics"][value.name] = value.value;
    // The N-LEEP initialisation and the OT diagnostics, for the reference checks.
    std::vector<std::int64_t> centres;
    baselines::nleep(input.target_features, input.target_labels, input.target_classes, input.seed, &centres);
    out["nleep_centres"] = centres;
    const auto ot = baselines::ot_conditional_entropy(input.reference_features, input.reference_labels,
                                                    input.reference_classes, input.target_features,
                                                    input.target_labels, input.target_classes,
                                                    input.ot_points_per_side, input.seed);
    out["ot"] = {{"wasserstein", ot.wasserstein}, {"reference_points", ot.reference_points},
                 {"target_points", ot.target_points}};
    std::cout << out.dump() << "\n";
  } catch (const InputError& error) {
    std::cerr << "error: " << error.what() << "\n";
    return 2;
  }
  return 0;
}
