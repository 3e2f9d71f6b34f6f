#include "pipeline/triple_options.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <string>

#include "core/error.h"

namespace taskrel::pipeline {

namespace {

// Bumped when the meaning of a result option changes, so old journals are refused.
// 2: device and precision joined the result options.
constexpr int kResultOptionsVersion = 2;

template <typename T>
nlohmann::json value_json(const T& value) {
  using V = std::remove_cv_t<T>;
  if constexpr (std::is_same_v<V, bool> || options::is_number_v<V>) return value;
  else if constexpr (std::is_enum_v<V>) return enum_name(value);
  else return options::OptionCodec<V>::json(value);
}

}  // namespace

void validate_triple_options(TripleOptions& o, const ProblemSink& report) {
  visit_triple_options(o, [&](const auto& entry) {
    const std::string problem = options::range_problem(entry);
    if (!problem.empty()) report(entry.key, entry.section, problem);
  });
  if (!o.tau0.automatic && !(o.tau0.value >= 0))
    report("tau0", options::Section::kRelate, fmt::format("must be >= 0 or auto (got {})", o.tau0.value));
  for (double kappa : o.tau0_grid.relative)
    if (!(kappa > 0)) report("tau0_grid", options::Section::kRelate, fmt::format("values must be > 0 (got {})", kappa));
  if (o.tau0_grid.relative.empty()) report("tau0_grid", options::Section::kRelate, "must list at least one value");
  o.relate.head.tau0 = o.tau0.value;
  o.relate.device = o.device.value_or(ot::default_device());
  o.device = o.relate.device;
  if (o.relate.device == ot::Device::kCuda && !ot::cuda_device_available())
    report("device", options::Section::kTop, ot::cuda_backend_built() ? "device cuda: no GPU is visible to this process"
                                              : "device cuda: this taskrel was built without the CUDA backend "
                                                "(configure with -DTASKREL_CUDA=ON)");
  o.relate.precision = o.precision.value_or(ot::default_cost_precision(o.relate.device));
  o.precision = o.relate.precision;
  const std::string precision_problem = ot::cost_precision_problem(o.relate.device, o.relate.precision);
  if (!precision_problem.empty()) report("precision", options::Section::kRelate, precision_problem);
  o.relate.head.seed = o.relate.seed;
}

void validate_triple_options(TripleOptions& o, const std::string& where) {
  std::vector<std::string> problems;
  validate_triple_options(o, [&](const char* key, options::Section, const std::string& problem) {
    problems.push_back(fmt::format("{} {}", key, problem));
  });
  if (!problems.empty()) throw InputError(fmt::format("{}: {}", where, fmt::join(problems, "; ")));
}

nlohmann::json result_options_json(const TripleOptions& o) {
  nlohmann::json out = {{"version", kResultOptionsVersion}};
  visit_triple_options(o, [&](const auto& entry) {
    if (entry.effect == options::Effect::kResult) out[entry.key] = value_json(entry.value);
  });
  return out;
}

}  // namespace taskrel::pipeline

namespace taskrel::options {

std::string OptionCodec<pipeline::MetricSelection>::text(const pipeline::MetricSelection& value) {
  if (value.names == baselines::metric_names()) return "all";
  if (value.names.empty()) return "none";
  return fmt::format("{}", fmt::join(value.names, ","));
}

pipeline::MetricSelection OptionCodec<pipeline::MetricSelection>::parse(const std::string& text) {
  return pipeline::MetricSelection{baselines::parse_metric_selection(text)};
}

namespace {

// A finite number filling the whole text, else InputError naming `what`.
double number_of(const std::string& text, const char* what) {
  std::size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || !std::isfinite(value))
    throw InputError(fmt::format("{} '{}' is not a number", what, text));
  return value;
}

}  // namespace

std::string OptionCodec<pipeline::Tau0Choice>::text(const pipeline::Tau0Choice& value) {
  return value.automatic ? "auto" : fmt::format("{}", value.value);
}

pipeline::Tau0Choice OptionCodec<pipeline::Tau0Choice>::parse(const std::string& text) {
  if (text == "auto") return pipeline::Tau0Choice{true, pipeline::Tau0Choice{}.value};
  return pipeline::Tau0Choice{false, number_of(text, "tau0: expected a number or auto, got")};
}

std::string OptionCodec<pipeline::Tau0Grid>::text(const pipeline::Tau0Grid& value) {
  return fmt::format("{}", fmt::join(value.relative, ","));
}

pipeline::Tau0Grid OptionCodec<pipeline::Tau0Grid>::parse(const std::string& text) {
  pipeline::Tau0Grid grid;
  grid.relative.clear();
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    const std::string item = text.substr(start, comma - start);
    if (!item.empty()) grid.relative.push_back(number_of(item, "tau0_grid: value"));
    start = comma + 1;
  }
  return grid;
}

}  // namespace taskrel::options
