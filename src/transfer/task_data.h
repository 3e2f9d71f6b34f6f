// The data of one task as the relatedness analysis uses it: the train split
// (to fit) and the test split (to report; the train split when the store has
// no test split), read whole on every rank (the analysis shards the OT work,
// not the storage: a triple's two tasks fit in memory), optionally
// standardised with the train split's own mean and std (DESIGN.md 1.1).
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace taskrel::transfer {

struct Split {
  std::vector<float> z;            // rows x dim, row-major
  std::vector<std::int64_t> y;     // rows, in [0, num_classes)
  std::int64_t rows = 0;
  std::int64_t dim = 0;
};

struct TaskData {
  std::string encoder, dataset;
  std::int64_t num_classes = 0;
  std::int64_t dim = 0;
  Split train;
  Split test;
  bool has_test = false;             // false: `test` is a copy of `train`
  std::string test_split = "train";  // the split reported on
  std::vector<float> mean, stddev;   // train statistics (empty: not standardised)
};

// Reads `encoder/dataset` from the store (train split required, test split
// when present). InputError naming the store and path for an unknown encoder
// or dataset or a missing train split.
TaskData load_task(const std::string& store_path, const std::string& encoder, const std::string& dataset);

// Subtracts the train mean and divides by the train std (std 0 -> 1) in both
// splits, recording the statistics.
void standardize(TaskData& task);

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

// The rows `index` of a split.
Split take_rows(const Split& split, const std::vector<std::int64_t>& index);

}  // namespace taskrel::transfer
