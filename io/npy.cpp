// See npy.h. Format reference: numpy/lib/format.py (NEP 1).
#include "io/npy.h"

#include <Eigen/Core>  // Eigen::half: IEEE binary16

#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>

#include "core/error.h"
#include "io/whole_file.h"
#include "io/zip_archive.h"

namespace taskrel::io {
namespace {

// A parsed .npy image: header fields plus the raw (still little-endian) data.
struct NpyImage {
  std::string source;  // "file" or "file.npz:member" for messages
  char kind = 0;       // 'f', 'i' or 'u'
  int item_size = 0;
  bool fortran_order = false;
  std::vector<std::int64_t> shape;
  std::vector<char> bytes;  // whole file / member
  std::size_t data_offset = 0;
  const char* data() const { return bytes.data() + data_offset; }
  std::string dtype() const { return fmt::format("{}{}", kind, item_size); }
};

[[noreturn]] void bad(const std::string& source, const std::string& what) {
  throw InputError(fmt::format("{}: {}", source, what));
}

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string text = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + (shape.size() == 1 ? ",)" : ")");
}

// Value of `key` in the header dict literal, e.g. "'<f4'" or "(3, 4)".
std::string header_value(const std::string& source, const std::string& header, const std::string& key) {
  const std::string quoted = "'" + key + "'";
  auto at = header.find(quoted);
  if (at == std::string::npos) bad(source, "not a valid .npy header: no '" + key + "' key");
  at = header.find(':', at + quoted.size());
  if (at == std::string::npos) bad(source, "not a valid .npy header near '" + key + "'");
  ++at;
  while (at < header.size() && header[at] == ' ') ++at;
  std::size_t end = at;
  if (at < header.size() && header[at] == '(') {
    end = header.find(')', at);
    if (end == std::string::npos) bad(source, "not a valid .npy header: unterminated shape");
    return header.substr(at, end + 1 - at);
  }
  if (at < header.size() && header[at] == '\'') {
    end = header.find('\'', at + 1);
    if (end == std::string::npos) bad(source, "not a valid .npy header: unterminated string");
    return header.substr(at, end + 1 - at);
  }
  while (end < header.size() && header[end] != ',' && header[end] != '}') ++end;
  return header.substr(at, end - at);
}

NpyImage parse_npy(std::string source, std::vector<char> bytes) {
  NpyImage image;
  image.source = std::move(source);
  const auto& s = image.source;
  static const char magic[] = "\x93NUMPY";
  if (bytes.size() >= 4 && std::memcmp(bytes.data(), "PK\x03\x04", 4) == 0)
    bad(s, "a zip (.npz) archive, not a .npy file: name the member to read (FILE.npz:NAME, or --embeddings-key / --labels-key)");
  if (bytes.size() < 10 || std::memcmp(bytes.data(), magic, 6) != 0) bad(s, "not a .npy file (bad magic)");
  const int major = static_cast<unsigned char>(bytes[6]);
  std::size_t header_len = 0;
  std::size_t header_start = 0;
  auto byte = [&](std::size_t i) { return static_cast<std::size_t>(static_cast<unsigned char>(bytes[i])); };
  if (major == 1) {
    header_len = byte(8) | (byte(9) << 8);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) bad(s, "truncated .npy header");
    header_len = byte(8) | (byte(9) << 8) | (byte(10) << 16) | (byte(11) << 24);
    header_start = 12;
  } else {
    bad(s, fmt::format("unsupported .npy format version {}", major));
  }
  if (header_len > bytes.size() - header_start) bad(s, "truncated .npy header");
  const std::string header(bytes.data() + header_start, header_len);
  image.data_offset = header_start + header_len;

  const std::string descr = header_value(s, header, "descr");
  if (descr.size() != 5 || descr.front() != '\'')
    bad(s, "unsupported dtype " + descr + " (need <f2, <f4, <f8 or a little-endian integer)");
  const char order = descr[1];
  image.kind = descr[2];
  image.item_size = descr[3] - '0';
  const bool sized = image.item_size == 1 || image.item_size == 2 || image.item_size == 4 || image.item_size == 8;
  const bool kind_ok = (image.kind == 'f' && image.item_size >= 2) || image.kind == 'i' || image.kind == 'u';
  const bool order_ok = order == '<' || order == '|' || (order == '=');  // '=' is native: x86/ARM are little-endian
  if (!sized || !kind_ok || !order_ok)
    bad(s, "unsupported dtype " + descr + " (need <f2, <f4, <f8 or a little-endian integer)");

  const std::string fortran = header_value(s, header, "fortran_order");
  if (fortran == "True") image.fortran_order = true;
  else if (fortran != "False") bad(s, "not a valid .npy header: fortran_order is " + fortran);

  const std::string shape = header_value(s, header, "shape");
  if (shape.empty() || shape.front() != '(') bad(s, "not a valid .npy header: shape is " + shape);
  std::int64_t count = 1;
  for (std::size_t i = 1; i < shape.size();) {
    while (i < shape.size() && (shape[i] == ' ' || shape[i] == ',')) ++i;
    if (i >= shape.size() || shape[i] == ')') break;
    std::int64_t dim = 0;
    std::size_t digits = 0;
    while (i < shape.size() && shape[i] >= '0' && shape[i] <= '9') {
      if (dim > (std::numeric_limits<std::int64_t>::max() - 9) / 10) bad(s, "shape too large: " + shape);
      dim = dim * 10 + (shape[i++] - '0');
      ++digits;
    }
    if (digits == 0) bad(s, "not a valid .npy header: shape is " + shape);
    if (dim != 0 && count > std::numeric_limits<std::int64_t>::max() / 8 / dim) bad(s, "shape too large: " + shape);
    count *= dim;
    image.shape.push_back(dim);
  }
  // The header is only believed once it agrees with the bytes actually there.
  const std::uint64_t expected = static_cast<std::uint64_t>(count) * image.item_size;
  const std::uint64_t present = bytes.size() - image.data_offset;
  if (present < expected)
    bad(s, fmt::format("truncated: header says shape {} of {} = {} bytes of data, file has {}",
                       shape_text(image.shape), descr, expected, present));
  if (present > expected)
    bad(s, fmt::format("header shape {} of {} = {} bytes of data is inconsistent with the file's {} bytes",
                       shape_text(image.shape), descr, expected, present));
  image.bytes = std::move(bytes);
  return image;
}

NpyImage load(const std::string& path, const std::string& member) {
  std::vector<char> bytes = read_whole_file(path, member.empty() ? ".npy file" : ".npz file");
  if (member.empty()) return parse_npy(path, std::move(bytes));
  // np.savez stores array `x` as member "x.npy"; accept either spelling.
  const auto names = zip_member_names(bytes, path);
  std::string name = member;
  for (const auto& candidate : names) {
    if (candidate == member + ".npy") name = candidate;
  }
  return parse_npy(path + ":" + member, read_zip_member(bytes, path, name));
}

// Element `index` (in storage order) converted to T.
template <typename T>
T element(const NpyImage& image, std::int64_t index) {
  const char* p = image.data() + index * image.item_size;
  auto load_as = [p](auto tag) {
    decltype(tag) v;
    std::memcpy(&v, p, sizeof v);
    return static_cast<T>(v);
  };
  if (image.kind == 'f') {
    if (image.item_size == 2) {
      std::uint16_t bits;
      std::memcpy(&bits, p, 2);
      return static_cast<T>(static_cast<float>(Eigen::numext::bit_cast<Eigen::half>(bits)));
    }
    return image.item_size == 4 ? load_as(float{}) : load_as(double{});
  }
  if (image.kind == 'i') {
    switch (image.item_size) {
      case 1: return load_as(std::int8_t{});
      case 2: return load_as(std::int16_t{});
      case 4: return load_as(std::int32_t{});
      default: return load_as(std::int64_t{});
    }
  }
  switch (image.item_size) {
    case 1: return load_as(std::uint8_t{});
    case 2: return load_as(std::uint16_t{});
    case 4: return load_as(std::uint32_t{});
    default: return load_as(std::uint64_t{});
  }
}

void require_rank(const NpyImage& image, std::size_t rank, const char* what) {
  if (image.shape.size() != rank)
    bad(image.source, fmt::format("expected a {}-D array ({}), got shape {}", rank, what, shape_text(image.shape)));
}

template <typename T>
void write_array(const std::string& path, const std::vector<std::int64_t>& shape, const T* values,
                 const char* descr) {
  std::string header = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}", descr,
                                   shape_text(shape));
  // Pad so the data starts on a 64-byte boundary, header ends with '\n'.
  const std::size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  if (header.size() > 65535) throw InputError(fmt::format("{}: shape too long for a .npy header", path));
  std::int64_t count = 1;
  for (auto dim : shape) count *= dim;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw InputError(fmt::format("{}: cannot create file", path));
  const char preamble[8] = {'\x93', 'N', 'U', 'M', 'P', 'Y', 1, 0};
  out.write(preamble, 8);
  const char length[2] = {static_cast<char>(header.size() & 0xff), static_cast<char>(header.size() >> 8)};
  out.write(length, 2);
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  out.write(reinterpret_cast<const char*>(values), static_cast<std::streamsize>(count * sizeof(T)));
  if (!out) throw RuntimeError(fmt::format("{}: write failed", path));
}

}  // namespace

FloatMatrix read_npy_matrix(const std::string& path, const std::string& npz_member) {
  const NpyImage image = load(path, npz_member);
  require_rank(image, 2, "rows x features");
  if (image.kind != 'f')
    bad(image.source, "unsupported dtype " + image.dtype() + " for embeddings (need float16, float32 or float64)");
  FloatMatrix matrix;
  matrix.rows = image.shape[0];
  matrix.cols = image.shape[1];
  matrix.values.resize(static_cast<std::size_t>(matrix.rows * matrix.cols));
  const bool c_order_f4 = !image.fortran_order && image.item_size == 4;
  if (c_order_f4) {
    // No memcpy of an empty array: its pointers may be null (found by tests/fuzz: fuzz_npy).
    if (!matrix.values.empty()) std::memcpy(matrix.values.data(), image.data(), matrix.values.size() * sizeof(float));
  } else {
    for (std::int64_t r = 0; r < matrix.rows; ++r) {
      for (std::int64_t c = 0; c < matrix.cols; ++c) {
        const std::int64_t stored = image.fortran_order ? c * matrix.rows + r : r * matrix.cols + c;
        matrix.values[r * matrix.cols + c] = element<float>(image, stored);
      }
    }
  }
  for (std::int64_t r = 0; r < matrix.rows; ++r) {
    const float* row = matrix.values.data() + r * matrix.cols;
    for (std::int64_t c = 0; c < matrix.cols; ++c) {
      if (!std::isfinite(row[c]))
        bad(image.source, fmt::format("non-finite value (NaN/Inf, or beyond float32 range) in row {} column {}", r, c));
    }
  }
  return matrix;
}

std::vector<double> read_npy_vector(const std::string& path, const std::string& npz_member) {
  const NpyImage image = load(path, npz_member);
  require_rank(image, 1, "a vector");
  std::vector<double> values(static_cast<std::size_t>(image.shape[0]));
  for (std::size_t i = 0; i < values.size(); ++i) {
    values[i] = element<double>(image, static_cast<std::int64_t>(i));
    if (!std::isfinite(values[i])) bad(image.source, fmt::format("non-finite value (NaN/Inf) at index {}", i));
  }
  return values;
}

std::vector<std::int64_t> read_npy_labels(const std::string& path, const std::string& npz_member) {
  const NpyImage image = load(path, npz_member);
  require_rank(image, 1, "labels");
  if (image.kind == 'f') bad(image.source, "unsupported dtype " + image.dtype() + " for labels (need an integer dtype)");
  std::vector<std::int64_t> labels(static_cast<std::size_t>(image.shape[0]));
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (image.kind == 'u' && image.item_size == 8) {
      const auto value = element<std::uint64_t>(image, static_cast<std::int64_t>(i));
      if (value > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        bad(image.source, fmt::format("label {} at index {} does not fit int64", value, i));
    }
    labels[i] = element<std::int64_t>(image, static_cast<std::int64_t>(i));
  }
  return labels;
}

void write_npy(const std::string& path, const std::vector<std::int64_t>& shape, const double* values) {
  write_array(path, shape, values, "<f8");
}

void write_npy(const std::string& path, const std::vector<std::int64_t>& shape, const float* values) {
  write_array(path, shape, values, "<f4");
}

std::pair<std::string, std::string> split_npz_spec(const std::string& spec) {
  const auto at = spec.rfind(".npz:");
  if (at == std::string::npos) return {spec, ""};
  return {spec.substr(0, at + 4), spec.substr(at + 5)};
}

}  // namespace taskrel::io
