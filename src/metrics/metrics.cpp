#include "metrics/metrics.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <map>
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.h"
#include "metrics/statistics.h"

namespace taskrel::metrics {
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

}  // namespace

const std::vector<std::string>& metric_names() {
  static const std::vector<std::string> names{"logme",     "leep", "nleep", "nce",  "hscore", "shrinkage_hscore",
                                              "transrate", "gbc",  "sfda",  "pactran", "otce",   "ot_nce"};
  return names;
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
  const auto [target_labels, target_classes] = compact_labels(input.target_labels, input.target_classes);
  const Matrix& z = input.target_features;
  std::optional<OtConditionalEntropy> coupling;  // shared by otce and ot_nce
  double coupling_seconds = 0.0;
  auto ot_entropy = [&]() {
    if (!coupling) {
      const auto started = std::chrono::steady_clock::now();
      const auto [reference_labels, reference_classes] =
          compact_labels(input.reference_labels, input.reference_classes);
      coupling = ot_conditional_entropy(input.reference_features, reference_labels, reference_classes, z,
                                        target_labels, target_classes, input.ot_points_per_side, input.seed);
      coupling_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      return -coupling->conditional_entropy;
    }
    coupling_seconds = 0.0;  // counted once, by the first of the two
    return -coupling->conditional_entropy;
  };
  std::vector<MetricValue> values;
  for (const std::string& name : selection) {
    const auto started = std::chrono::steady_clock::now();
    double value = 0.0;
    if (name == "logme") value = logme(z, target_labels, target_classes);
    else if (name == "leep") value = leep(input.source_probabilities, target_labels, target_classes);
    else if (name == "nleep") value = nleep(z, target_labels, target_classes, input.seed);
    else if (name == "nce") value = nce(input.source_probabilities, target_labels, target_classes);
    else if (name == "hscore") value = hscore(z, target_labels, target_classes);
    else if (name == "shrinkage_hscore") value = shrinkage_hscore(z, target_labels, target_classes);
    else if (name == "transrate") value = transrate(z, target_labels, target_classes);
    else if (name == "gbc") value = gbc(z, target_labels, target_classes);
    else if (name == "sfda") value = sfda(z, target_labels, target_classes);
    else if (name == "pactran") value = pactran(z, target_labels, target_classes);
    else if (name == "otce" || name == "ot_nce") value = ot_entropy();
    else TASKREL_ASSERT(false, "metric {} not in the registry", name);
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (name == "otce" || name == "ot_nce") seconds = coupling_seconds;
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

}  // namespace taskrel::metrics
