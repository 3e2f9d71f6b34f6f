// taskrel's extension beyond the paper: the best reference. The bound holds
// for every reference task, so for an (encoder, target) the smallest
// relatedness over the references is a bound too, and the tightest the job
// offers. Self pairs are excluded (a task explaining itself says nothing
// about transfer); the arg-min is recorded.
#pragma once

#include <vector>

#include <nlohmann/json.hpp>

namespace taskrel::matrix {

// One record per (encoder, target) with at least one ok triple over a
// reference other than the target: the record of the reference with the
// smallest relatedness, with "reference" set to "best" (so correlate groups
// it by target) and result.best_reference / result.references_compared
// added. In the order of first appearance.
std::vector<nlohmann::json> best_reference_records(const std::vector<nlohmann::json>& records);

}  // namespace taskrel::matrix
