// Reader for the IDX format of (Fashion-)MNIST: a big-endian header
// (two zero bytes, a dtype code, the number of dimensions, one uint32 per
// dimension) followed by the values in row-major order. Files may be gzipped
// (detected by content, not by name). Only unsigned bytes (dtype 0x08) are
// supported, which is what the image and label files of MNIST-like sets hold.
//
// Every problem (missing file, bad gzip, bad magic, unsupported dtype, a size
// that does not match the header, images and labels that disagree) is an
// InputError naming the file and what is wrong.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace taskrel::io {

struct IdxArray {
  std::vector<std::int64_t> dims;   // e.g. {60000, 28, 28} or {60000}
  std::vector<std::uint8_t> values; // row-major, product(dims) entries
};

// Reads one IDX file, gzipped or plain.
IdxArray read_idx(const std::string& path);

// Images (n x rows x cols) and labels (n) of one split of an MNIST-like set.
struct IdxImageSet {
  std::int64_t count = 0, rows = 0, cols = 0;
  std::vector<std::uint8_t> pixels;  // count x rows x cols
  std::vector<std::uint8_t> labels;  // count
};

// Reads an image file (3-D) and its label file (1-D) and checks that they
// hold the same number of items.
IdxImageSet read_idx_image_set(const std::string& images_path, const std::string& labels_path);

}  // namespace taskrel::io
