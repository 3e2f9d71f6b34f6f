// The registry of baseline estimators: one table of {name, help, function}
// (registry.cpp) from which come their names (the JSON keys and, as
// metrics_<name>, the CSV columns), the --help text, the parser of
// `--metrics all|none|LIST`, and compute_metrics, which runs a selection on
// one triple's data. Adding an estimator is one row of that table.
//
// Data used (documented in the README): the target *train* split after the
// target fraction — the labelled data a user has when choosing a model —
// standardised as relate uses it; the source model is the encoder plus the
// reference head h_R, whose softmax(W z + c) on the target points feeds LEEP
// and NCE; OTCE / OT-NCE couple the reference train features with the target
// ones (at most `ot_points_per_side` each, stratified, seeded).
// Sign: every metric here is higher = more transferable; relatedness is the
// opposite (lower = more transferable).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "baselines/estimators.h"

namespace taskrel::baselines {

struct MetricInput {
  Matrix target_features;             // n_T x d
  Labels target_labels;               // n_T, in [0, target_classes)
  std::int64_t target_classes = 0;
  Matrix source_probabilities;        // n_T x K_R
  Matrix reference_features;          // n_R x d
  Labels reference_labels;            // n_R, in [0, reference_classes)
  std::int64_t reference_classes = 0;
  std::uint64_t seed = 0;
  std::int64_t ot_points_per_side = 1000;
};

struct MetricValue {
  std::string name;
  double value = 0.0;
  double seconds = 0.0;
};

// Every metric, in the order results list them.
const std::vector<std::string>& metric_names();

// "logme (You et al. 2021), leep (...), ...": the names with their papers, for --help.
std::string metric_help();

// "all" (every metric), "none" (empty), or a comma-separated list of names
// (case-insensitive, blanks ignored, duplicates dropped, registry order kept).
// InputError naming the unknown name and listing the valid ones.
std::vector<std::string> parse_metric_selection(const std::string& spec);

// The selected metrics on `input`, in registry order. Target classes with no
// row are dropped first (so each metric sees K = the classes present); a
// non-finite value (which no formula should produce) becomes 0 with a warning.
std::vector<MetricValue> compute_metrics(const MetricInput& input, const std::vector<std::string>& selection);

// softmax(W z + c) of a linear head (weight classes x dim row-major) on the
// rows of z (rows x dim row-major), in double.
Matrix head_probabilities(const float* z, std::int64_t rows, std::int64_t dim, const float* weight,
                          const float* bias, std::int64_t classes);

}  // namespace taskrel::baselines
