// IDX reading: the whole file is inflated into memory first (the largest
// Fashion-MNIST file is 47 MB), then the header is checked against its size.
#include "io/idx.h"

#include <zlib.h>

#include <cstdio>

#include "core/error.h"

namespace taskrel::io {
namespace {

constexpr std::uint8_t kUnsignedByte = 0x08;

// gzread reads plain files transparently, so one path serves both kinds.
std::vector<std::uint8_t> read_whole_file(const std::string& path) {
  std::FILE* probe = std::fopen(path.c_str(), "rb");
  if (probe == nullptr) throw InputError(fmt::format("{}: cannot open the IDX file", path));
  std::fclose(probe);
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) throw InputError(fmt::format("{}: cannot open the IDX file", path));
  std::vector<std::uint8_t> content;
  std::vector<std::uint8_t> chunk(1 << 20);
  while (true) {
    const int got = gzread(file, chunk.data(), static_cast<unsigned>(chunk.size()));
    if (got < 0) {
      int code = 0;
      const std::string message = gzerror(file, &code);
      gzclose(file);
      throw InputError(fmt::format("{}: corrupt gzip data ({})", path, message));
    }
    if (got == 0) break;
    content.insert(content.end(), chunk.begin(), chunk.begin() + got);
  }
  // A truncated gzip stream ends without error from gzread but gzclose
  // reports it (Z_BUF_ERROR) — this is how a cut-off download shows.
  const int closed = gzclose(file);
  if (closed != Z_OK) throw InputError(fmt::format("{}: truncated or corrupt gzip stream", path));
  return content;
}

std::uint32_t big_endian_u32(const std::uint8_t* bytes) {
  return (std::uint32_t{bytes[0]} << 24) | (std::uint32_t{bytes[1]} << 16) | (std::uint32_t{bytes[2]} << 8) |
         std::uint32_t{bytes[3]};
}

}  // namespace

IdxArray read_idx(const std::string& path) {
  const std::vector<std::uint8_t> content = read_whole_file(path);
  if (content.size() < 4) throw InputError(fmt::format("{}: too short for an IDX header ({} bytes)", path, content.size()));
  if (content[0] != 0 || content[1] != 0)
    throw InputError(fmt::format("{}: bad IDX magic (first two bytes must be zero, got {:#04x} {:#04x})", path,
                                 content[0], content[1]));
  if (content[2] != kUnsignedByte)
    throw InputError(fmt::format("{}: unsupported IDX dtype {:#04x} (only unsigned bytes, 0x08, are supported)",
                                 path, content[2]));
  const std::size_t ndims = content[3];
  if (ndims == 0) throw InputError(fmt::format("{}: IDX header declares zero dimensions", path));
  const std::size_t header = 4 + 4 * ndims;
  if (content.size() < header)
    throw InputError(fmt::format("{}: truncated IDX header ({} dimensions need {} bytes, file has {})", path, ndims,
                                 header, content.size()));
  IdxArray array;
  std::uint64_t total = 1;
  for (std::size_t i = 0; i < ndims; ++i) {
    const std::uint32_t dim = big_endian_u32(&content[4 + 4 * i]);
    if (dim == 0) throw InputError(fmt::format("{}: IDX dimension {} is zero", path, i));
    total *= dim;
    if (total > (std::uint64_t{1} << 40)) throw InputError(fmt::format("{}: IDX dimensions are implausibly large", path));
    array.dims.push_back(dim);
  }
  const std::uint64_t actual = content.size() - header;
  if (actual < total)
    throw InputError(fmt::format("{}: truncated IDX data: the header promises {} values, the file holds {}", path,
                                 total, actual));
  if (actual > total)
    throw InputError(fmt::format("{}: {} trailing bytes after the {} values the IDX header promises", path,
                                 actual - total, total));
  array.values.assign(content.begin() + static_cast<std::ptrdiff_t>(header), content.end());
  return array;
}

IdxImageSet read_idx_image_set(const std::string& images_path, const std::string& labels_path) {
  IdxArray images = read_idx(images_path);
  IdxArray labels = read_idx(labels_path);
  if (images.dims.size() != 3)
    throw InputError(fmt::format("{}: an image file must have 3 dimensions (count, rows, cols), it has {}",
                                 images_path, images.dims.size()));
  if (labels.dims.size() != 1)
    throw InputError(fmt::format("{}: a label file must have 1 dimension, it has {}", labels_path, labels.dims.size()));
  if (images.dims[0] != labels.dims[0])
    throw InputError(fmt::format("{} holds {} images but {} holds {} labels", images_path, images.dims[0],
                                 labels_path, labels.dims[0]));
  IdxImageSet set;
  set.count = images.dims[0];
  set.rows = images.dims[1];
  set.cols = images.dims[2];
  set.pixels = std::move(images.values);
  set.labels = std::move(labels.values);
  return set;
}

}  // namespace taskrel::io
