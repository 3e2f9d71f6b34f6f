// See zip_archive.h. The archive is read with libzip (Debian's libzip-dev),
// opened with consistency checks; a member's CRC-32 is verified by libzip as
// it is read to the end. Before anything is allocated from a size the
// archive states, that size is checked against what the archive's own bytes
// can hold (stored: equal; deflated: at most 1032x, deflate's bound).
#include "io/zip_archive.h"

#include <zip.h>

#include <memory>

#include <fmt/format.h>

#include "core/error.h"

namespace taskrel::io {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw InputError(fmt::format("{}: not a valid .npz (zip) archive: {}", path, what));
}

struct ArchiveCloser {
  void operator()(zip_t* archive) const { zip_discard(archive); }  // read-only: nothing to write back
};
using Archive = std::unique_ptr<zip_t, ArchiveCloser>;

// The archive is parsed from memory: the whole file was read first (it may
// be a pipe, which can be read only once), so libzip never seeks a file.
Archive open_archive(const std::vector<char>& bytes, const std::string& path) {
  zip_error_t error;
  zip_error_init(&error);
  zip_source_t* source = zip_source_buffer_create(bytes.data(), bytes.size(), 0, &error);
  if (source == nullptr) {
    const std::string message = zip_error_strerror(&error);
    zip_error_fini(&error);
    fail(path, message);
  }
  zip_t* archive = zip_open_from_source(source, ZIP_RDONLY | ZIP_CHECKCONS, &error);
  if (archive == nullptr) {
    zip_source_free(source);  // not taken over by a failed open
    const std::string message = zip_error_strerror(&error);
    zip_error_fini(&error);
    fail(path, message);
  }
  zip_error_fini(&error);
  return Archive(archive);
}

std::vector<std::string> names_of(zip_t* archive, const std::string& path) {
  const zip_int64_t count = zip_get_num_entries(archive, 0);
  if (count < 0) fail(path, zip_strerror(archive));
  std::vector<std::string> names;
  for (zip_int64_t i = 0; i < count; ++i) {
    const char* name = zip_get_name(archive, static_cast<zip_uint64_t>(i), 0);
    if (name == nullptr) fail(path, zip_strerror(archive));
    names.emplace_back(name);
  }
  return names;
}

std::string joined_names(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "none" : out;
}

}  // namespace

std::vector<std::string> zip_member_names(const std::vector<char>& bytes, const std::string& path) {
  const Archive archive = open_archive(bytes, path);
  return names_of(archive.get(), path);
}

std::vector<char> read_zip_member(const std::vector<char>& archive_bytes, const std::string& path,
                                  const std::string& name) {
  const Archive archive = open_archive(archive_bytes, path);
  const zip_int64_t index = zip_name_locate(archive.get(), name.c_str(), 0);
  if (index < 0)
    throw InputError(
        fmt::format("{}: no member '{}' (members: {})", path, name, joined_names(names_of(archive.get(), path))));
  zip_stat_t stat;
  zip_stat_init(&stat);
  if (zip_stat_index(archive.get(), static_cast<zip_uint64_t>(index), 0, &stat) != 0) fail(path, zip_strerror(archive.get()));
  const zip_uint64_t wanted = ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE | ZIP_STAT_COMP_METHOD;
  if ((stat.valid & wanted) != wanted) fail(path, "member " + name + " has no recorded sizes");
  if (stat.comp_method == ZIP_CM_STORE) {
    if (stat.size != stat.comp_size) fail(path, "stored member with inconsistent sizes: " + name);
  } else if (stat.comp_method == ZIP_CM_DEFLATE) {
    if (stat.size > stat.comp_size * 1032 + 1024) fail(path, "implausible uncompressed size for " + name);
  } else {
    fail(path, fmt::format("member {} uses unsupported compression method {}", name, stat.comp_method));
  }
  zip_file_t* file = zip_fopen_index(archive.get(), static_cast<zip_uint64_t>(index), 0);
  if (file == nullptr) fail(path, fmt::format("member {}: {}", name, zip_strerror(archive.get())));
  std::vector<char> bytes(static_cast<std::size_t>(stat.size));
  zip_uint64_t done = 0;
  std::string problem;
  while (problem.empty() && done < stat.size) {
    const zip_int64_t n = zip_fread(file, bytes.data() + done, stat.size - done);
    if (n < 0) problem = zip_file_strerror(file);
    else if (n == 0) problem = "does not inflate to its recorded size (corrupt or truncated)";
    else done += static_cast<zip_uint64_t>(n);
  }
  // Reading past the end makes libzip check the CRC-32 of the whole member.
  char extra = 0;
  if (problem.empty()) {
    const zip_int64_t n = zip_fread(file, &extra, 1);
    if (n < 0) problem = zip_file_strerror(file);
    else if (n > 0) problem = "holds more than its recorded size (corrupt)";
  }
  zip_fclose(file);
  if (!problem.empty()) fail(path, "member " + name + ": " + problem);
  return bytes;
}

}  // namespace taskrel::io
