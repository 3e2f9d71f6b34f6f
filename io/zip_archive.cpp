// See zip_archive.h. Format: PKWARE APPNOTE 6.3 (end of central directory,
// central directory headers, local headers, ZIP64 extra field 0x0001).
#include "io/zip_archive.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>

#include "core/error.h"

namespace taskrel::io {
namespace {

struct Member {
  std::string name;
  std::uint16_t method = 0;
  std::uint32_t crc = 0;
  std::uint64_t compressed_size = 0;
  std::uint64_t uncompressed_size = 0;
  std::uint64_t local_header_offset = 0;
};

std::uint64_t little_endian(const unsigned char* p, int bytes) {
  std::uint64_t value = 0;
  for (int i = bytes - 1; i >= 0; --i) value = (value << 8) | p[i];
  return value;
}

class ZipFile {
 public:
  explicit ZipFile(const std::string& path) : path_(path), in_(path, std::ios::binary) {
    if (!in_) throw InputError(fmt::format("{}: cannot open file", path));
    in_.seekg(0, std::ios::end);
    size_ = static_cast<std::uint64_t>(in_.tellg());
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw InputError(fmt::format("{}: not a valid .npz (zip) archive: {}", path_, what));
  }

  std::vector<unsigned char> read_at(std::uint64_t offset, std::uint64_t length) {
    if (offset > size_ || length > size_ - offset) fail("truncated (a record points past the end of the file)");
    std::vector<unsigned char> bytes(length);
    in_.seekg(static_cast<std::streamoff>(offset));
    in_.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(length));
    if (!in_) fail("read error");
    return bytes;
  }

  std::vector<Member> central_directory() {
    // The end-of-central-directory record (22 bytes + comment <= 65535).
    const std::uint64_t tail = std::min<std::uint64_t>(size_, 22 + 65535);
    if (size_ < 22) fail("file too small");
    auto bytes = read_at(size_ - tail, tail);
    std::int64_t eocd = -1;
    for (std::int64_t i = static_cast<std::int64_t>(tail) - 22; i >= 0; --i) {
      if (little_endian(&bytes[i], 4) == 0x06054b50) { eocd = i; break; }
    }
    if (eocd < 0) fail("no end-of-central-directory record");
    const unsigned char* e = &bytes[eocd];
    std::uint64_t count = little_endian(e + 10, 2);
    std::uint64_t dir_size = little_endian(e + 12, 4);
    std::uint64_t dir_offset = little_endian(e + 16, 4);
    const std::uint64_t eocd_offset = size_ - tail + static_cast<std::uint64_t>(eocd);
    if ((count == 0xFFFF || dir_size == 0xFFFFFFFF || dir_offset == 0xFFFFFFFF) && eocd_offset >= 20) {
      auto locator = read_at(eocd_offset - 20, 20);
      if (little_endian(locator.data(), 4) == 0x07064b50) {
        auto record = read_at(little_endian(locator.data() + 8, 8), 56);
        if (little_endian(record.data(), 4) != 0x06064b50) fail("bad ZIP64 end record");
        count = little_endian(record.data() + 32, 8);
        dir_size = little_endian(record.data() + 40, 8);
        dir_offset = little_endian(record.data() + 48, 8);
      }
    }
    auto dir = read_at(dir_offset, dir_size);  // bounded by the file size
    std::vector<Member> members;
    std::uint64_t pos = 0;
    for (std::uint64_t k = 0; k < count; ++k) {
      if (pos + 46 > dir.size() || little_endian(&dir[pos], 4) != 0x02014b50) fail("corrupt central directory");
      const unsigned char* h = &dir[pos];
      Member m;
      m.method = static_cast<std::uint16_t>(little_endian(h + 10, 2));
      m.crc = static_cast<std::uint32_t>(little_endian(h + 16, 4));
      m.compressed_size = little_endian(h + 20, 4);
      m.uncompressed_size = little_endian(h + 24, 4);
      const std::uint64_t name_len = little_endian(h + 28, 2);
      const std::uint64_t extra_len = little_endian(h + 30, 2);
      const std::uint64_t comment_len = little_endian(h + 32, 2);
      m.local_header_offset = little_endian(h + 42, 4);
      if (pos + 46 + name_len + extra_len + comment_len > dir.size()) fail("corrupt central directory");
      m.name.assign(reinterpret_cast<const char*>(h + 46), name_len);
      parse_zip64_extra(h + 46 + name_len, extra_len, m);
      members.push_back(std::move(m));
      pos += 46 + name_len + extra_len + comment_len;
    }
    return members;
  }

  std::vector<char> extract(const Member& m) {
    auto local = read_at(m.local_header_offset, 30);
    if (little_endian(local.data(), 4) != 0x04034b50) fail("bad local header for " + m.name);
    const std::uint64_t data_offset =
        m.local_header_offset + 30 + little_endian(&local[26], 2) + little_endian(&local[28], 2);
    auto packed = read_at(data_offset, m.compressed_size);
    std::vector<char> out;
    if (m.method == 0) {
      if (m.compressed_size != m.uncompressed_size) fail("stored member with inconsistent sizes: " + m.name);
      out.assign(packed.begin(), packed.end());
    } else if (m.method == 8) {
      // Deflate cannot expand data by more than ~1032x: a larger claimed size
      // is a corrupt header, not something to allocate.
      if (m.uncompressed_size > m.compressed_size * 1032 + 1024) fail("implausible uncompressed size for " + m.name);
      out.resize(m.uncompressed_size);
      inflate_raw(packed, out, m.name);
    } else {
      fail(fmt::format("member {} uses unsupported compression method {}", m.name, m.method));
    }
    std::uint64_t crc = crc32(0L, Z_NULL, 0);
    const char* p = out.data();
    for (std::uint64_t left = out.size(); left > 0;) {
      const uInt step = static_cast<uInt>(std::min<std::uint64_t>(left, 1u << 30));
      crc = crc32(crc, reinterpret_cast<const Bytef*>(p), step);
      p += step;
      left -= step;
    }
    if (crc != m.crc) fail("CRC mismatch in member " + m.name + " (corrupt file)");
    return out;
  }

 private:
  void parse_zip64_extra(const unsigned char* extra, std::uint64_t length, Member& m) {
    for (std::uint64_t pos = 0; pos + 4 <= length;) {
      const std::uint64_t id = little_endian(extra + pos, 2);
      const std::uint64_t size = little_endian(extra + pos + 2, 2);
      if (pos + 4 + size > length) fail("corrupt extra field");
      if (id == 0x0001) {
        // Only the fields whose 32-bit value is 0xFFFFFFFF are present, in order.
        const unsigned char* f = extra + pos + 4;
        std::uint64_t used = 0;
        auto take = [&](std::uint64_t& field) {
          if (field != 0xFFFFFFFF) return;
          if (used + 8 > size) fail("corrupt ZIP64 extra field");
          field = little_endian(f + used, 8);
          used += 8;
        };
        take(m.uncompressed_size);
        take(m.compressed_size);
        take(m.local_header_offset);
      }
      pos += 4 + size;
    }
  }

  void inflate_raw(const std::vector<unsigned char>& packed, std::vector<char>& out, const std::string& name) {
    z_stream stream{};
    if (inflateInit2(&stream, -MAX_WBITS) != Z_OK) throw RuntimeError("zlib inflateInit2 failed");
    std::uint64_t in_pos = 0;
    std::uint64_t out_pos = 0;
    int status = Z_OK;
    const std::uint64_t chunk = 1u << 30;  // zlib counts in 32-bit uInt
    while (status == Z_OK) {
      if (stream.avail_in == 0 && in_pos < packed.size()) {
        stream.next_in = const_cast<Bytef*>(packed.data() + in_pos);
        stream.avail_in = static_cast<uInt>(std::min<std::uint64_t>(chunk, packed.size() - in_pos));
        in_pos += stream.avail_in;
      }
      if (stream.avail_out == 0 && out_pos < out.size()) {
        stream.next_out = reinterpret_cast<Bytef*>(out.data() + out_pos);
        stream.avail_out = static_cast<uInt>(std::min<std::uint64_t>(chunk, out.size() - out_pos));
        out_pos += stream.avail_out;
      }
      status = inflate(&stream, Z_NO_FLUSH);
      if (status == Z_BUF_ERROR && (stream.avail_in > 0 || in_pos < packed.size()) &&
          (stream.avail_out > 0 || out_pos < out.size())) {
        status = Z_OK;  // zlib only needed a refill
      }
    }
    const bool complete = status == Z_STREAM_END && stream.total_out == out.size();
    inflateEnd(&stream);
    if (!complete) fail("member " + name + " does not inflate to its recorded size (corrupt or truncated)");
  }

  std::string path_;
  std::ifstream in_;
  std::uint64_t size_ = 0;
};

std::string joined_names(const std::vector<Member>& members) {
  std::string names;
  for (const auto& m : members) names += (names.empty() ? "" : ", ") + m.name;
  return names.empty() ? "(none)" : names;
}

}  // namespace

std::vector<std::string> zip_member_names(const std::string& path) {
  ZipFile zip(path);
  std::vector<std::string> names;
  for (const auto& m : zip.central_directory()) names.push_back(m.name);
  return names;
}

std::vector<char> read_zip_member(const std::string& path, const std::string& name) {
  ZipFile zip(path);
  auto members = zip.central_directory();
  for (const auto& m : members) {
    if (m.name == name) return zip.extract(m);
  }
  throw InputError(fmt::format("{}: no member '{}' (members: {})", path, name, joined_names(members)));
}

}  // namespace taskrel::io
