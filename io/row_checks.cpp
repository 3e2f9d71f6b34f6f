#include "io/row_checks.h"

#include <cmath>

#include <fmt/format.h>

#include "core/error.h"

namespace taskrel::io {

BadRows find_bad_rows(const EmbeddingBlock& b, std::int64_t num_classes) {
  BadRows bad;
  for (std::int64_t r = 0; r < b.block.size() && bad.value_row == kNoRow; ++r) {
    const float* row = b.embeddings.data() + r * b.dim;
    for (std::int64_t c = 0; c < b.dim; ++c) {
      if (!std::isfinite(row[c])) {
        bad.value_row = b.block.begin + r;
        break;
      }
    }
  }
  for (std::int64_t r = 0; r < b.block.size(); ++r) {
    if (b.labels[r] < 0 || b.labels[r] >= num_classes) {
      bad.label_row = b.block.begin + r;
      bad.label = b.labels[r];
      break;
    }
  }
  return bad;
}

void report_bad_rows(const std::string& store, const std::string& base, std::int64_t num_classes, const BadRows& bad) {
  if (bad.value_row != kNoRow)
    throw InputError(fmt::format("{}: {}/embeddings: non-finite value (NaN/Inf) in row {}", store, base, bad.value_row));
  if (bad.label_row != kNoRow)
    throw InputError(fmt::format("{}: {}/labels: label {} in row {} is outside [0, {}) (num_classes)", store, base,
                                 bad.label, bad.label_row, num_classes));
}

void report_empty_classes(const std::string& store, const std::string& base, const SplitMeta& meta,
                          const std::vector<long long>& counts) {
  for (std::size_t c = 0; c < counts.size(); ++c) {
    if (counts[c] == 0) {
      const std::string name = c < meta.class_names.size() ? " ('" + meta.class_names[c] + "')" : "";
      throw InputError(fmt::format("{}: {}/labels: class {}{} has no rows (num_classes is {})", store, base, c, name,
                                   meta.num_classes));
    }
  }
}

}  // namespace taskrel::io
