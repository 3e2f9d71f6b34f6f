// Reading and writing NumPy .npy arrays, and .npy members of .npz archives.
//
// Supported: format versions 1.0/2.0/3.0, little-endian (or byte-order-free)
// dtypes f2/f4/f8 and i1/i2/i4/i8/u1/u2/u4/u8, fortran_order true or false.
// Results are always row-major (C order). Every header field is checked
// against the actual data size before anything is allocated from it, and
// every error is an InputError naming the file (and npz member) and the
// problem.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace taskrel::io {

// A dense row-major float32 matrix.
struct FloatMatrix {
  std::int64_t rows = 0, cols = 0;
  std::vector<float> values;  // row-major, rows * cols
};

// A 2-D float array (f2/f4/f8) as float32 row-major. 1-D or 3-D is an error,
// as is any NaN/Inf (the message names the first bad row). With npz_member
// set, `path` is an .npz archive and the member `NAME` or `NAME.npy` is read.
FloatMatrix read_npy_matrix(const std::string& path, const std::string& npz_member = "");

// A 1-D float or integer array as double (NaN/Inf is an error).
std::vector<double> read_npy_vector(const std::string& path, const std::string& npz_member = "");

// A 1-D integer array as int64 (float arrays are an error: labels are exact).
std::vector<std::int64_t> read_npy_labels(const std::string& path, const std::string& npz_member = "");

// Writes a C-order array: <f8 from double, <f4 from float. The product of
// `shape` values are read from `values`.
void write_npy(const std::string& path, const std::vector<std::int64_t>& shape, const double* values);
void write_npy(const std::string& path, const std::vector<std::int64_t>& shape, const float* values);

// Splits "FILE.npz:member" into {"FILE.npz", "member"}; any other spec gives
// {spec, ""}. Used by commands that accept an npz member inline.
std::pair<std::string, std::string> split_npz_spec(const std::string& spec);

}  // namespace taskrel::io
