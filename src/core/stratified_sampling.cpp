#include "core/stratified_sampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"

namespace taskrel {

std::vector<std::int64_t> class_counts(const std::vector<std::int64_t>& labels, std::int64_t classes) {
  std::vector<std::int64_t> counts(classes, 0);
  for (auto y : labels) {
    TASKREL_ASSERT(y >= 0 && y < classes, "label {} outside [0, {})", y, classes);
    ++counts[y];
  }
  return counts;
}

namespace {

std::vector<std::int64_t> stratified_counts(const std::vector<std::int64_t>& labels, std::int64_t classes,
                                            double fraction, std::mt19937_64& rng) {
  const auto counts = class_counts(labels, classes);
  std::vector<std::vector<std::int64_t>> members(classes);
  for (std::int64_t i = 0; i < static_cast<std::int64_t>(labels.size()); ++i) members[labels[i]].push_back(i);
  std::vector<std::int64_t> out;
  for (std::int64_t k = 0; k < classes; ++k) {
    if (counts[k] == 0) continue;
    std::int64_t take = static_cast<std::int64_t>(std::llround(fraction * static_cast<double>(counts[k])));
    take = std::clamp<std::int64_t>(take, 1, counts[k]);
    auto& m = members[k];
    // Partial Fisher-Yates with the caller's generator (portable, unlike std::shuffle's distribution use).
    for (std::int64_t i = 0; i < take; ++i) {
      const std::int64_t j = i + static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(counts[k] - i));
      std::swap(m[i], m[j]);
    }
    out.insert(out.end(), m.begin(), m.begin() + take);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

std::vector<std::int64_t> stratified_fraction(const std::vector<std::int64_t>& labels, std::int64_t classes,
                                              double fraction, std::mt19937_64& rng) {
  return stratified_counts(labels, classes, fraction, rng);
}

std::vector<std::int64_t> stratified_sample(const std::vector<std::int64_t>& labels, std::int64_t classes,
                                            std::int64_t size, std::mt19937_64& rng) {
  const auto n = static_cast<std::int64_t>(labels.size());
  if (size >= n) {
    std::vector<std::int64_t> all(n);
    std::iota(all.begin(), all.end(), 0);
    return all;
  }
  return stratified_counts(labels, classes, static_cast<double>(size) / static_cast<double>(n), rng);
}

}  // namespace taskrel
