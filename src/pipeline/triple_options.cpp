#include "pipeline/triple_options.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.h"

namespace taskrel::pipeline {

namespace {

// Bumped when the meaning of a result option changes, so old journals are refused.
constexpr int kResultOptionsVersion = 1;

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
  o.relate.device = o.device.value_or(ot::default_device());
  if (o.relate.device == ot::Device::kCuda && !ot::cuda_device_available())
    report("device", options::Section::kTop, ot::cuda_backend_built() ? "device cuda: no GPU is visible to this process"
                                              : "device cuda: this taskrel was built without the CUDA backend "
                                                "(configure with -DTASKREL_CUDA=ON)");
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

}  // namespace taskrel::options
