// Sharded reads under mpiexec -n 1/2/3: every row is read by exactly one
// rank, values and labels arrive intact, the transfer is collective with
// parallel HDF5, and validation errors are raised identically on all ranks.
#include <gtest/gtest.h>

#include "comm/mpi_communicator.h"
#include "io/embedding_store.h"
#include "io_test_support.h"

namespace taskrel::io {
namespace {

float value(std::int64_t r, std::int64_t c) { return static_cast<float>(r * 8 + c); }

// Writes /enc/ds/n<rows> on rank 0 (dim 8, labels r % min(rows, 3)).
std::string write_store(const std::string& dir, std::int64_t rows) {
  const std::string path = dir + "/shard_" + std::to_string(rows) + ".h5";
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank == 0) {
    std::vector<float> x(static_cast<std::size_t>(rows * 8));
    std::vector<std::int64_t> y(static_cast<std::size_t>(rows));
    for (std::int64_t r = 0; r < rows; ++r) {
      y[r] = r % std::min<std::int64_t>(rows, 3);
      for (int c = 0; c < 8; ++c) x[r * 8 + c] = value(r, c);
    }
    import_split(path, {"enc", "ds", "train"}, x, rows, 8, y, 0, {});
  }
  MPI_Barrier(MPI_COMM_WORLD);
  return path;
}

TEST(ShardedRead, EveryRowReadExactlyOnceAndCollectively) {
  const std::string dir = testing::make_temp_dir();
  auto world = MpiCommunicator::world();
  for (std::int64_t rows : {1, 2, 7, 1000}) {
    SCOPED_TRACE(rows);
    const std::string path = write_store(dir, rows);
    EmbeddingStoreReader store(path, world);
    const EmbeddingBlock block = store.read_shard("enc", "ds", "train", world);
    EXPECT_EQ(block.block.begin, shard_rows(rows, world.rank(), world.size()).begin);
    std::vector<long long> times_read(static_cast<std::size_t>(rows), 0);
    for (std::int64_t i = 0; i < block.block.size(); ++i) {
      const std::int64_t r = block.block.begin + i;
      ++times_read[r];
      EXPECT_EQ(block.labels[i], r % std::min<std::int64_t>(rows, 3));
      for (int c = 0; c < 8; ++c) ASSERT_EQ(block.embeddings[i * 8 + c], value(r, c));
    }
    world.all_reduce(times_read.data(), times_read.size(), ReduceOp::kSum);
    for (std::int64_t r = 0; r < rows; ++r) ASSERT_EQ(times_read[r], 1) << "row " << r;
#ifdef TASKREL_PARALLEL_HDF5
    EXPECT_TRUE(store.last_read_was_collective()) << "rank " << world.rank();
#else
    EXPECT_FALSE(store.last_read_was_collective());
#endif
  }
}

TEST(ShardedRead, ValidationErrorIsTheSameOnEveryRank) {
  const std::string dir = testing::make_temp_dir();
  ASSERT_EQ(testing::run_fixture("bad-stores", dir), 0);
  auto world = MpiCommunicator::world();
  // nan.h5: Inf in row 4 of 6; label_range.h5: label 7 in row 3; empty_class.h5: class 2.
  const std::pair<const char*, const char*> cases[] = {
      {"nan.h5", "non-finite value (NaN/Inf) in row 4"},
      {"label_range.h5", "label 7 in row 3 is outside [0, 3)"},
      {"empty_class.h5", "class 2 has no rows"},
  };
  for (const auto& [name, problem] : cases) {
    SCOPED_TRACE(name);
    EmbeddingStoreReader store(dir + "/" + name, world);
    testing::expect_input_error([&] { store.read_shard("e", "d", "train", world); },
                                {dir + "/" + name, "/e/d/train/", problem});
  }
}

}  // namespace
}  // namespace taskrel::io
