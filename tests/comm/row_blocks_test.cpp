#include <gtest/gtest.h>

#include <vector>

#include "comm/row_blocks.h"

namespace taskrel {
namespace {

TEST(ShardRows, EveryRowOwnedOnceAndBalanced) {
  for (std::int64_t rows : {0, 1, 2, 3, 7, 1000, 1001}) {
    for (int ranks : {1, 2, 3, 5, 8}) {
      std::vector<int> owners(static_cast<std::size_t>(rows), 0);
      std::int64_t smallest = rows, largest = 0, expected_begin = 0;
      for (int rank = 0; rank < ranks; ++rank) {
        RowBlock block = shard_rows(rows, rank, ranks);
        EXPECT_EQ(block.begin, expected_begin) << "blocks must be contiguous";
        expected_begin = block.end;
        for (auto row = block.begin; row < block.end; ++row) owners[row] += 1;
        smallest = std::min(smallest, block.size());
        largest = std::max(largest, block.size());
      }
      EXPECT_EQ(expected_begin, rows);
      EXPECT_LE(largest - smallest, 1) << rows << " rows over " << ranks << " ranks";
      for (int count : owners) EXPECT_EQ(count, 1);
    }
  }
}

}  // namespace
}  // namespace taskrel
