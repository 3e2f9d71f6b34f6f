#include "baselines/registry.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <map>
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.h"
#include "baselines/statistics.h"

namespace taskrel::baselines {
namespace {

std::string trimmed_lower(const std::string& text) {
  std::string out;
  for (char c : text)
    if (!std::isspace(static_cast<unsigned char>(c))) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Labels renumbered onto the classes that occur, and how many occur.
std::pair<Labels, std::int64_t> compact_labels(const Labels& labels, std::int64_t classes) {
  std::vector<std::int64_t> index(classes, -1);
  std::int64_t present = 0;
  for (auto y : labels)
    if (index[y] < 0) index[y] = 0;
  for (auto& i : index)
    if (i == 0) i = present++;
  Labels out(labels.size());
  for (std::size_t i = 0; i < labels.size(); ++i) out[i] = index[labels[i]];
  return {std::move(out), present};
}

// What every estimator reads: the input with the absent target classes
// dropped, and the OT coupling that OTCE and OT-NCE share (computed once).
struct EstimatorData {
  const MetricInput& input;
  Labels target_labels;
  std::int64_t target_classes = 0;
  std::optional<OtConditionalEntropy> coupling;
  bool coupling_reused = false;  // the last metric read a coupling an earlier one computed

  const OtConditionalEntropy& ot_coupling() {
    coupling_reused = coupling.has_value();
    if (!coupling) {
      const auto [reference_labels, reference_classes] = compact_labels(input.reference_labels, input.reference_classes);
      coupling = ot_conditional_entropy(input.reference_features, reference_labels, reference_classes,
                                        input.target_features, target_labels, target_classes,
                                        input.ot_points_per_side, input.seed);
    }
    return *coupling;
  }
};

struct Estimator {
  const char* name;
  const char* paper;
  double (*compute)(EstimatorData& data);
};

// The registry, in the order results list the metrics.
const Estimator kEstimators[] = {
    {"logme", "You et al. 2021",
     [](EstimatorData& d) { return logme(d.input.target_features, d.target_labels, d.target_classes); }},
    {"leep", "Nguyen et al. 2020",
     [](EstimatorData& d) { return leep(d.input.source_probabilities, d.target_labels, d.target_classes); }},
    {"nleep", "Li et al. 2021",
     [](EstimatorData& d) { return nleep(d.input.target_features, d.target_labels, d.target_classes, d.input.seed); }},
    {"nce", "Tran et al. 2019",
     [](EstimatorData& d) { return nce(d.input.source_probabilities, d.target_labels, d.target_classes); }},
    {"hscore", "Bao et al. 2019",
     [](EstimatorData& d) { return hscore(d.input.target_features, d.target_labels, d.target_classes); }},
    {"shrinkage_hscore", "Ibrahim et al. 2022",
     [](EstimatorData& d) { return shrinkage_hscore(d.input.target_features, d.target_labels, d.target_classes); }},
    {"transrate", "Huang et al. 2022",
     [](EstimatorData& d) { return transrate(d.input.target_features, d.target_labels, d.target_classes); }},
    {"gbc", "Pandy et al. 2022",
     [](EstimatorData& d) { return gbc(d.input.target_features, d.target_labels, d.target_classes); }},
    {"sfda", "Shao et al. 2022",
     [](EstimatorData& d) { return sfda(d.input.target_features, d.target_labels, d.target_classes); }},
    {"pactran", "Ding et al. 2022",
     [](EstimatorData& d) { return pactran(d.input.target_features, d.target_labels, d.target_classes); }},
    // No published OTCE weights: OTCE is OT-NCE, as the authors' README recommends.
    {"otce", "Tan et al. 2021", [](EstimatorData& d) { return -d.ot_coupling().conditional_entropy; }},
    {"ot_nce", "Tan et al. 2021", [](EstimatorData& d) { return -d.ot_coupling().conditional_entropy; }},
};

const Estimator& estimator_named(const std::string& name) {
  for (const auto& e : kEstimators)
    if (name == e.name) return e;
  TASKREL_ASSERT(false, "metric {} not in the registry", name);
  return kEstimators[0];
}

}  // namespace

const std::vector<std::string>& metric_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& e : kEstimators) out.push_back(e.name);
    return out;
  }();
  return names;
}

std::string metric_help() {
  std::string text;
  for (const auto& e : kEstimators) text += fmt::format("{}{} ({})", text.empty() ? "" : ", ", e.name, e.paper);
  return text;
}

std::vector<std::string> parse_metric_selection(const std::string& spec) {
  const std::string all = trimmed_lower(spec);
  if (all == "all") return metric_names();
  if (all == "none" || all.empty()) return {};
  std::vector<bool> chosen(metric_names().size(), false);
  std::size_t start = 0;
  while (start <= all.size()) {
    const std::size_t comma = std::min(all.find(',', start), all.size());
    const std::string name = all.substr(start, comma - start);
    start = comma + 1;
    if (name.empty()) continue;
    const auto found = std::find(metric_names().begin(), metric_names().end(), name);
    if (found == metric_names().end())
      throw InputError(fmt::format("unknown metric '{}' (valid: all, none, or a comma list of {})", name,
                                   fmt::join(metric_names(), ", ")));
    chosen[found - metric_names().begin()] = true;
  }
  std::vector<std::string> selection;
  for (std::size_t i = 0; i < chosen.size(); ++i)
    if (chosen[i]) selection.push_back(metric_names()[i]);
  return selection;
}

std::vector<MetricValue> compute_metrics(const MetricInput& input, const std::vector<std::string>& selection) {
  auto [target_labels, target_classes] = compact_labels(input.target_labels, input.target_classes);
  EstimatorData data{input, std::move(target_labels), target_classes, std::nullopt, false};
  std::vector<MetricValue> values;
  for (const std::string& name : selection) {
    const Estimator& estimator = estimator_named(name);
    const auto started = std::chrono::steady_clock::now();
    data.coupling_reused = false;
    double value = estimator.compute(data);
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    // The shared coupling is the whole cost of OTCE and OT-NCE: counted once, by the first.
    if (data.coupling_reused) seconds = 0.0;
    if (!std::isfinite(value)) {
      warn_degenerate(name.c_str(), "non-finite value on these data; reported as 0");
      value = 0.0;
    }
    values.push_back({name, value, seconds});
  }
  return values;
}

Matrix head_probabilities(const float* z, std::int64_t rows, std::int64_t dim, const float* weight,
                          const float* bias, std::int64_t classes) {
  using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const Matrix points = Eigen::Map<const RowMajor>(z, rows, dim).cast<double>();
  const Matrix w = Eigen::Map<const RowMajor>(weight, classes, dim).cast<double>();
  Matrix logits = points * w.transpose();
  logits.rowwise() += Eigen::Map<const Eigen::VectorXf>(bias, classes).cast<double>().transpose();
  return softmax_rows(logits);
}

}  // namespace taskrel::baselines
