// The JSON record of one finished triple: every term of the bound, every
// diagnostic, B and D, the baselines, the options that produced it (from the
// option table) and the timings. `taskrel relate --json` prints it, the
// matrix journal stores it, and the result store flattens it into
// relatedness.csv / .h5 (README: the keys).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "baselines/registry.h"
#include "pipeline/triple.h"

namespace taskrel::pipeline {

struct BaselineScores {
  std::vector<baselines::MetricValue> values;  // selection order
};

// Rows the triple used and reported on.
struct TripleSizes {
  std::int64_t reference_train = 0, reference_reported = 0;
  std::int64_t target_train_used = 0, target_train_full = 0, target_reported = 0;
  std::string reference_reported_split, target_reported_split;
};

// The reference head's budget: the one used, and with tau0 auto every candidate.
struct Tau0Candidate {
  double tau0 = 0, relative = 0, relatedness = 0, target_loss = 0;
  bool converged = false;
};
struct Tau0Report {
  bool automatic = false;
  double chosen = 0, chosen_relative = 0;
  double reference_distance = 0;  // mean distance between reference train points (auto only)
  std::vector<Tau0Candidate> candidates;
};

nlohmann::json triple_record(const TripleRequest& request, const TripleOptions& options,
                             const relatedness::RelateResult& result, const BaselineScores& scores,
                             const TripleSizes& sizes, const Tau0Report& tau0, int ranks, double seconds);

}  // namespace taskrel::pipeline
