// IDX reading: the whole file is read and inflated into memory first (the largest
// Fashion-MNIST file is 47 MB), then the header is checked against its size.
#include "io/idx.h"

#include <zlib.h>

#include <limits>

#include "core/error.h"
#include "io/whole_file.h"

namespace taskrel::io {
namespace {

constexpr std::uint8_t kUnsignedByte = 0x08;

// The file is read whole first (it may be a pipe, readable once), then
// inflated in memory when it starts with the gzip magic; concatenated gzip
// members are inflated one after another, as gunzip does.
std::vector<std::uint8_t> read_idx_bytes(const std::string& path) {
  const std::vector<char> raw = read_whole_file(path, "the IDX file");
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(raw.data());
  const bool gzipped = raw.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b;
  if (!gzipped) return std::vector<std::uint8_t>(bytes, bytes + raw.size());
  if (raw.size() > std::numeric_limits<uInt>::max())  // IDX files are far below 4 GiB
    throw InputError(fmt::format("{}: gzip file too large ({} bytes)", path, raw.size()));
  z_stream stream{};
  if (inflateInit2(&stream, 16 + MAX_WBITS) != Z_OK) throw RuntimeError(fmt::format("{}: zlib inflateInit2 failed", path));
  stream.next_in = const_cast<Bytef*>(bytes);
  stream.avail_in = static_cast<uInt>(raw.size());
  std::vector<std::uint8_t> content;
  std::vector<std::uint8_t> chunk(1 << 20);
  int code = Z_OK;
  while (true) {
    stream.next_out = chunk.data();
    stream.avail_out = static_cast<uInt>(chunk.size());
    code = inflate(&stream, Z_NO_FLUSH);
    content.insert(content.end(), chunk.data(), chunk.data() + (chunk.size() - stream.avail_out));
    if (code == Z_STREAM_END) {
      if (stream.avail_in == 0) break;
      if (inflateReset(&stream) != Z_OK) break;  // next gzip member
      continue;
    }
    if (code != Z_OK) break;
    if (stream.avail_in == 0 && stream.avail_out != 0) {
      code = Z_BUF_ERROR;  // input ended inside a member: a cut-off download
      break;
    }
  }
  const std::string message = stream.msg != nullptr ? stream.msg : "";
  inflateEnd(&stream);
  if (code == Z_BUF_ERROR) throw InputError(fmt::format("{}: truncated or corrupt gzip stream", path));
  if (code != Z_STREAM_END) throw InputError(fmt::format("{}: corrupt gzip data ({})", path, message));
  return content;
}

std::uint32_t big_endian_u32(const std::uint8_t* bytes) {
  return (std::uint32_t{bytes[0]} << 24) | (std::uint32_t{bytes[1]} << 16) | (std::uint32_t{bytes[2]} << 8) |
         std::uint32_t{bytes[3]};
}

}  // namespace

IdxArray read_idx(const std::string& path) {
  const std::vector<std::uint8_t> content = read_idx_bytes(path);
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
