// Stratified row sampling by class label, shared by the relatedness analysis
// (target fractions, minibatches, evaluation caps) and the baseline
// estimators (OTCE's EMD cap). Deterministic for the generator's state on
// every platform: draws use the raw mt19937_64 output, not a library
// distribution.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace taskrel {

// Class counts of labels in [0, classes).
std::vector<std::int64_t> class_counts(const std::vector<std::int64_t>& labels, std::int64_t classes);

// A stratified sample of about `fraction` of the rows (at least one per
// non-empty class), deterministic for the rng state; indices sorted.
std::vector<std::int64_t> stratified_fraction(const std::vector<std::int64_t>& labels, std::int64_t classes,
                                              double fraction, std::mt19937_64& rng);

// A stratified sample of `size` rows (per class in proportion, at least one
// per non-empty class); all rows when size >= rows. Indices sorted.
std::vector<std::int64_t> stratified_sample(const std::vector<std::int64_t>& labels, std::int64_t classes,
                                            std::int64_t size, std::mt19937_64& rng);

}  // namespace taskrel
