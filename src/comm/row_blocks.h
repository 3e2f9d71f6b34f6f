// Balanced contiguous row blocks: how n rows are split over the ranks of a
// communicator. Rank r owns [begin(r), end(r)); block sizes differ by at most
// one, earlier ranks take the extra rows, and when n < ranks the last ranks
// own empty blocks. Every row is owned by exactly one rank.
#pragma once

#include <cstdint>

namespace taskrel {

struct RowBlock {
  std::int64_t begin = 0;
  std::int64_t end = 0;
  std::int64_t size() const { return end - begin; }
};

inline RowBlock shard_rows(std::int64_t rows, int rank, int ranks) {
  const std::int64_t base = rows / ranks;
  const std::int64_t extra = rows % ranks;
  const std::int64_t begin = rank * base + (rank < extra ? rank : extra);
  const std::int64_t size = base + (rank < extra ? 1 : 0);
  return RowBlock{begin, begin + size};
}

}  // namespace taskrel
