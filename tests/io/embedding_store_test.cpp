// The embedding store on one rank: stores written by h5py read by taskrel
// (float16/float64 conversion, int32 labels, head skipped), a store written
// by taskrel read by h5py, append/overwrite rules, and every validation error
// on a crafted file (store_fixtures.py bad-stores).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "io/embedding_store.h"
#include "io_test_support.h"

namespace taskrel::io {
namespace {

using testing::expect_input_error;

class StoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = testing::make_temp_dir();
    ASSERT_EQ(testing::run_fixture("good-store", dir_), 0);
    ASSERT_EQ(testing::run_fixture("bad-stores", dir_), 0);
  }
  static std::string file(const std::string& name) { return dir_ + "/" + name; }
  static std::string dir_;
};
std::string StoreTest::dir_;

float reference(std::int64_t r, std::int64_t c) { return static_cast<float>((r % 64) * 0.5 - (c % 16) * 0.25); }

std::string contents(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

TEST_F(StoreTest, ReadsH5pyStoreWithFloat16AndFloat64) {
  EmbeddingStoreReader store(file("h5py_store.h5"));
  EXPECT_EQ(store.encoders(), std::vector<std::string>{"enc"});
  EXPECT_EQ(store.datasets("enc"), std::vector<std::string>{"ds"});
  EXPECT_EQ(store.splits("enc", "ds"), (std::vector<std::string>{"test", "train"}));  // head is not a split

  const SplitInfo train = store.split_info("enc", "ds", "train");
  EXPECT_EQ(train.rows, 9);
  EXPECT_EQ(train.dim, 4);
  EXPECT_EQ(train.dtype, "float16");
  EXPECT_EQ(train.label_dtype, "int32");
  EXPECT_EQ(train.num_classes, 3);
  EXPECT_EQ(train.class_names, (std::vector<std::string>{"cat", "dog", "\xc3\xa9meu"}));
  EXPECT_EQ(train.class_counts, (std::vector<std::int64_t>{3, 3, 3}));
  EXPECT_EQ(store.split_metadata("enc", "ds", "test").dtype, "float64");

  for (const char* split : {"train", "test"}) {
    const auto rows = store.split_metadata("enc", "ds", split).rows;
    const EmbeddingBlock block = store.read_rows("enc", "ds", split, 1, rows);
    ASSERT_EQ(block.embeddings.size(), static_cast<std::size_t>((rows - 1) * 4));
    for (std::int64_t r = 1; r < rows; ++r) {
      EXPECT_EQ(block.labels[r - 1], r % 3);
      for (std::int64_t c = 0; c < 4; ++c) EXPECT_EQ(block.embeddings[(r - 1) * 4 + c], reference(r, c)) << split;
    }
  }
  expect_input_error([&] { store.read_rows("enc", "ds", "valid", 0, 1); },
                     {file("h5py_store.h5"), "/enc/ds/valid", "no such split"});
  expect_input_error([&] { store.datasets("nope"); }, {file("h5py_store.h5"), "/nope", "no such encoder"});
}

TEST_F(StoreTest, H5pyReadsStoreWrittenByTaskrel) {
  std::vector<float> x(35);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = 0.5f * static_cast<float>(i);
  const std::vector<std::int64_t> y = {0, 1, 2, 0, 1, 2, 0};
  import_split(file("written.h5"), {"enc", "ds", "train"}, x, 7, 5, y, 0, {"a", "b", "c"});
  const std::string check =
      testing::test_python() + " " + testing::fixture_script() + " check-written " + file("written.h5");
  EXPECT_EQ(std::system(check.c_str()), 0);
  EmbeddingStoreReader store(file("written.h5"));
  EXPECT_EQ(store.read_rows("enc", "ds", "train", 0, 7).embeddings, x);
}

TEST_F(StoreTest, AppendsWithoutTouchingOtherEntriesAndRefusesOverwrite) {
  const std::string path = file("append.h5");
  const std::vector<float> x4(8 * 4, 1.0f);
  const std::vector<std::int64_t> y = {0, 1, 0, 1, 0, 1, 0, 1};
  import_split(path, {"e1", "d", "train"}, x4, 8, 4, y, 0, {});
  import_split(path, {"e2", "d", "train"}, std::vector<float>(8 * 6, 2.0f), 8, 6, y, 0, {});
  import_split(path, {"e1", "d", "test"}, std::vector<float>(8 * 4, 3.0f), 8, 4, y, 0, {});
  {
    EmbeddingStoreReader store(path);
    EXPECT_EQ(store.encoders(), (std::vector<std::string>{"e1", "e2"}));
    EXPECT_EQ(store.read_rows("e1", "d", "train", 0, 8).embeddings, x4);
    EXPECT_EQ(store.read_rows("e2", "d", "train", 0, 1).embeddings, std::vector<float>(6, 2.0f));
  }
  const std::string before = contents(path);
  expect_input_error([&] { import_split(path, {"e1", "d", "train"}, x4, 8, 4, y, 0, {}); },
                     {path, "/e1/d/train", "already exists", "--overwrite"});
  expect_input_error([&] { import_split(path, {"e1", "d2", "train"}, std::vector<float>(8 * 5), 8, 5, y, 0, {}); },
                     {path, "/e1/d2/train", "dimension 5", "/e1/d/"});
  expect_input_error([&] { import_split(path, {"e1", "d", "valid"}, x4, 8, 4, y, 3, {}); },
                     {path, "/e1/d/valid", "--num-classes 3", "num_classes 2"});
  expect_input_error([&] { import_split(path, {"e1", "d", "valid"}, x4, 8, 4, {0, 1, 0, 1, 0, 1, 0, 2}, 0, {}); },
                     {path, "/e1/d/valid", "label 2 in row 7", "[0, 2)"});
  expect_input_error([&] { import_split(path, {"e3", "d", "valid"}, x4, 8, 4, {0, 2, 0, 2, 0, 2, 0, 2}, 0, {}); },
                     {path, "/e3/d/valid", "class 1 has no rows"});
  EXPECT_EQ(contents(path), before) << "a refused import changed the store";

  SplitTarget replace{"e1", "d", "train", true};
  import_split(path, replace, std::vector<float>(8 * 4, 9.0f), 8, 4, y, 0, {});
  EmbeddingStoreReader store(path);
  EXPECT_EQ(store.read_rows("e1", "d", "train", 0, 1).embeddings, std::vector<float>(4, 9.0f));
  EXPECT_EQ(store.read_rows("e1", "d", "test", 0, 1).embeddings, std::vector<float>(4, 3.0f));
}

struct BadStore {
  const char* file;
  const char* hdf5_path;
  const char* problem;
};

TEST_F(StoreTest, EveryValidationErrorNamesFilePathAndProblem) {
  const BadStore cases[] = {
      {"missing_labels.h5", "/e/d/train/labels", "missing dataset"},
      {"missing_embeddings.h5", "/e/d/train/embeddings", "missing dataset"},
      {"embeddings_1d.h5", "/e/d/train/embeddings", "must be 2-D"},
      {"embeddings_int.h5", "/e/d/train/embeddings", "unsupported dtype"},
      {"labels_2d.h5", "/e/d/train/labels", "1-D integer"},
      {"labels_float.h5", "/e/d/train/labels", "1-D integer"},
      {"label_count.h5", "/e/d/train/labels", "5 labels for 6 embedding rows"},
      {"label_range.h5", "/e/d/train/labels", "label 7 in row 3 is outside [0, 3)"},
      {"negative_label.h5", "/e/d/train/labels", "label -1 in row 4"},
      {"nan.h5", "/e/d/train/embeddings", "non-finite value (NaN/Inf) in row 4"},
      {"empty_class.h5", "/e/d/train/labels", "class 2 has no rows"},
      {"dim_mismatch.h5", "/e/d2/train/embeddings", "dimension 3 differs from dimension 4 of /e/d1/train/embeddings"},
      {"missing_num_classes.h5", "/e/d", "missing attribute num_classes"},
      {"class_names_count.h5", "/e/d", "class_names has 2 names"},
      {"few_rows.h5", "/e/d/train/labels", "some class has no rows"},
      {"not_hdf5.h5", "", "not an HDF5 file"},
      {"truncated.h5", "", "truncated or corrupt"},
      {"does_not_exist.h5", "", "cannot open file"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.file);
    expect_input_error(
        [&] {
          EmbeddingStoreReader store(file(c.file));
          for (const auto& e : store.encoders())
            for (const auto& d : store.datasets(e))
              for (const auto& s : store.splits(e, d)) store.validate_split(e, d, s);
        },
        {file(c.file), c.hdf5_path, c.problem});
  }
}

}  // namespace
}  // namespace taskrel::io
