// Internal to io/: the value checks of rows read from an embedding store
// (NaN/Inf, labels in [0, num_classes), no empty class), each problem an
// InputError naming the file, the HDF5 path and the first bad row.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "io/store_layout.h"

namespace taskrel::io {

// "No bad row" in BadRows.
constexpr long long kNoRow = std::numeric_limits<long long>::max();

// The first row (global index) with a NaN/Inf, and the first with a label
// outside [0, num_classes) and that label; kNoRow when there is none.
struct BadRows {
  long long value_row = kNoRow;
  long long label_row = kNoRow;
  long long label = 0;
};
BadRows find_bad_rows(const EmbeddingBlock& block, std::int64_t num_classes);

// InputError for the first problem of `bad` (in split `base` of `store`).
void report_bad_rows(const std::string& store, const std::string& base, std::int64_t num_classes, const BadRows& bad);

// InputError for the first class with no rows in `counts`.
void report_empty_classes(const std::string& store, const std::string& base, const SplitMeta& meta,
                          const std::vector<long long>& counts);

}  // namespace taskrel::io
