#include "io/space_check.h"

#include <sys/resource.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "core/error.h"

namespace taskrel::io {

namespace {

std::string mib(std::uint64_t bytes) { return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1 << 20)); }

}  // namespace

void require_room_for(const std::string& path, std::uint64_t bytes, const std::string& what) {
  std::error_code ec;
  const std::uint64_t size = std::filesystem::is_regular_file(path, ec) ? std::filesystem::file_size(path, ec) : 0;
  rlimit limit{};
  if (getrlimit(RLIMIT_FSIZE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY &&
      size + bytes > static_cast<std::uint64_t>(limit.rlim_cur))
    throw RuntimeError(fmt::format("{}: {} needs {} more, and the file-size limit of this process (ulimit -f) is {} "
                                   "for a file of {} now; nothing was written",
                                   path, what, mib(bytes), mib(limit.rlim_cur), mib(size)));
  const std::filesystem::path folder = std::filesystem::absolute(path, ec).parent_path();
  struct statvfs fs {};
  if (statvfs(folder.c_str(), &fs) != 0) return;  // no folder: opening the file reports it, naming the path
  const std::uint64_t free_bytes = static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
  if (bytes > free_bytes)
    throw RuntimeError(fmt::format("{}: {} needs {} more, and its file system has {} free; nothing was written", path,
                                   what, mib(bytes), mib(free_bytes)));
}

std::uint64_t split_bytes_needed(std::int64_t rows, std::int64_t dim) {
  const std::uint64_t data = static_cast<std::uint64_t>(rows) * static_cast<std::uint64_t>(dim) * 4 +
                             static_cast<std::uint64_t>(rows) * 8;
  // Object headers, group entries, attributes and the chunk B-tree (a chunk
  // is about 1 MiB): far below this margin.
  return data + data / 64 + (256u << 10);
}

}  // namespace taskrel::io
