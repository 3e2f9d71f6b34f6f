// .npy / .npz reading and writing against files numpy wrote (store_fixtures.py npy).
#include <gtest/gtest.h>

#include "io/npy.h"
#include "io_test_support.h"

namespace taskrel::io {
namespace {

using testing::expect_input_error;

class NpyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = testing::make_temp_dir();
    ASSERT_EQ(testing::run_fixture("npy", dir_), 0);
  }
  static std::string file(const std::string& name) { return dir_ + "/" + name; }
  static std::string dir_;
};
std::string NpyTest::dir_;

// store_fixtures.reference_matrix
float reference(std::int64_t r, std::int64_t c) { return static_cast<float>((r % 64) * 0.5 - (c % 16) * 0.25); }

void expect_reference(const FloatMatrix& m, std::int64_t rows, std::int64_t cols) {
  ASSERT_EQ(m.rows, rows);
  ASSERT_EQ(m.cols, cols);
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c) EXPECT_EQ(m.values[r * cols + c], reference(r, c)) << r << "," << c;
}

TEST_F(NpyTest, ReadsEveryFloatDtypeInCAndFortranOrder) {
  for (const char* dtype : {"f2", "f4", "f8"}) {
    for (const char* order : {"c", "f"}) {
      SCOPED_TRACE(std::string(dtype) + order);
      expect_reference(read_npy_matrix(file(std::string("m_") + dtype + "_" + order + ".npy")), 5, 3);
    }
  }
}

TEST_F(NpyTest, ReadsHeaderVersions2And3) {
  expect_reference(read_npy_matrix(file("v2.npy")), 5, 3);
  expect_reference(read_npy_matrix(file("v3.npy")), 5, 3);
}

TEST_F(NpyTest, ReadsEveryIntegerLabelDtype) {
  for (const char* dtype : {"i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8"}) {
    EXPECT_EQ(read_npy_labels(file(std::string("labels_") + dtype + ".npy")),
              (std::vector<std::int64_t>{0, 1, 2, 0, 1}))
        << dtype;
  }
}

TEST_F(NpyTest, ReadsVectors) {
  EXPECT_EQ(read_npy_vector(file("vector_f8.npy")), (std::vector<double>{0.5, -1.0, 2.25}));
  EXPECT_EQ(read_npy_vector(file("labels_i4.npy")), (std::vector<double>{0, 1, 2, 0, 1}));
}

TEST_F(NpyTest, ReadsStoredAndDeflatedNpzMembers) {
  expect_reference(read_npy_matrix(file("stored.npz"), "x"), 5, 3);
  expect_reference(read_npy_matrix(file("compressed.npz"), "x.npy"), 5, 3);  // Fortran-order f8 inside
  EXPECT_EQ(read_npy_labels(file("compressed.npz"), "y"), (std::vector<std::int64_t>{0, 1, 2, 0, 1}));
  expect_input_error([&] { read_npy_matrix(file("stored.npz"), "z"); },
                     {file("stored.npz"), "no member 'z'", "x.npy", "y.npy"});
}

TEST_F(NpyTest, WritesFilesNumpyReadsBack) {
  const std::vector<double> d = {1.5, -2, 3, 4, 5, 6};
  write_npy(file("out_f8.npy"), {2, 3}, d.data());
  const std::vector<float> f = {1.5f, -2, 3, 4};
  write_npy(file("out_f4.npy"), {4}, f.data());
  const std::string check = testing::test_python() + " -c \"import numpy as np; a = np.load('" + file("out_f8.npy") +
                            "'); b = np.load('" + file("out_f4.npy") +
                            "'); assert a.dtype == np.float64 and a.shape == (2, 3) and a[0, 0] == 1.5 and a[1, 2] == "
                            "6; assert b.dtype == np.float32 and list(b) == [1.5, -2, 3, 4]\"";
  EXPECT_EQ(std::system(check.c_str()), 0);
  EXPECT_EQ(read_npy_vector(file("out_f4.npy")), (std::vector<double>{1.5, -2, 3, 4}));
}

TEST_F(NpyTest, RejectsBadFilesNamingFileAndProblem) {
  expect_input_error([&] { read_npy_matrix(file("not_npy.npy")); }, {file("not_npy.npy"), "not a .npy file"});
  expect_input_error([&] { read_npy_matrix(file("truncated.npy")); }, {file("truncated.npy"), "truncated"});
  expect_input_error([&] { read_npy_matrix(file("too_long.npy")); }, {file("too_long.npy"), "inconsistent"});
  expect_input_error([&] { read_npy_matrix(file("huge_header.npy")); },
                     {file("huge_header.npy"), "truncated", "1000000000000"});
  expect_input_error([&] { read_npy_matrix(file("big_endian.npy")); }, {file("big_endian.npy"), "unsupported dtype"});
  expect_input_error([&] { read_npy_matrix(file("complex.npy")); }, {file("complex.npy"), "unsupported dtype"});
  expect_input_error([&] { read_npy_matrix(file("rank3.npy")); }, {file("rank3.npy"), "2-D", "(2, 2, 2)"});
  expect_input_error([&] { read_npy_matrix(file("vector_f8.npy")); }, {file("vector_f8.npy"), "2-D"});
  expect_input_error([&] { read_npy_matrix(file("nan.npy")); }, {file("nan.npy"), "NaN", "row 3"});
  expect_input_error([&] { read_npy_labels(file("float_labels.npy")); }, {file("float_labels.npy"), "integer"});
  expect_input_error([&] { read_npy_labels(file("m_f4_c.npy")); }, {file("m_f4_c.npy"), "1-D"});
  expect_input_error([&] { read_npy_matrix(file("missing.npy")); }, {file("missing.npy"), "cannot open"});
  expect_input_error([&] { read_npy_matrix(file("m_f4_c.npy"), "x"); }, {file("m_f4_c.npy"), "zip"});
}

TEST(NpzSpec, SplitsInlineMember) {
  EXPECT_EQ(split_npz_spec("a/b.npz:emb"), (std::pair<std::string, std::string>{"a/b.npz", "emb"}));
  EXPECT_EQ(split_npz_spec("a/b.npy"), (std::pair<std::string, std::string>{"a/b.npy", ""}));
}

}  // namespace
}  // namespace taskrel::io
