// The data of one task as the relatedness analysis uses it: the train split
// (to fit) and the test split (to report; the train split when the store has
// no test split), optionally standardised with the train split's own mean
// and std (DESIGN.md 1.1). Loading it from a store is pipeline/task_loading.h:
// this library knows no storage.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/stratified_sampling.h"  // class_counts, stratified_fraction, stratified_sample

namespace taskrel::relatedness {

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

// Subtracts the train mean and divides by the train std (std 0 -> 1) in both
// splits, recording the statistics.
void standardize(TaskData& task);

// The rows `index` of a split.
Split take_rows(const Split& split, const std::vector<std::int64_t>& index);

}  // namespace taskrel::relatedness
