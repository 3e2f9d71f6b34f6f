#include "io/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <system_error>

#include <fmt/format.h>

#include "core/error.h"

namespace taskrel::io {

void write_file_atomically(const std::string& path, const std::string& text) {
  PendingFile pending(path);  // removes the temporary unless committed
  {
    std::ofstream file(pending.temporary(), std::ios::binary | std::ios::trunc);
    if (!file) throw InputError(fmt::format("{}: cannot write (does its folder exist, and is it writable?)", path));
    file << text;
    file.close();
    if (!file) throw_write_failed(path, "writing");
  }
  pending.commit();
}

namespace {

[[noreturn]] void durable_write_failed(const std::string& path, const std::string& temporary, const char* step, int fd) {
  const int error = errno;
  if (fd >= 0) ::close(fd);
  std::remove(temporary.c_str());
  throw RuntimeError(fmt::format("{}: {} of {} failed: {}", path, step, temporary, std::strerror(error)));
}

}  // namespace

void write_file_durably(const std::string& path, const std::string& temporary, const std::string& text) {
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) durable_write_failed(path, temporary, "creating", -1);
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) durable_write_failed(path, temporary, "writing", fd);
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) durable_write_failed(path, temporary, "fsync", fd);
  if (::close(fd) != 0) durable_write_failed(path, temporary, "closing", -1);
  rename_into_place(temporary, path);
  const std::string folder = std::filesystem::path(path).parent_path().string();
  const int dir = ::open(folder.empty() ? "." : folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) throw RuntimeError(fmt::format("{}: cannot open its folder to fsync it: {}", path, std::strerror(errno)));
  const int synced = ::fsync(dir);
  const int error = errno;
  ::close(dir);
  if (synced != 0) throw RuntimeError(fmt::format("{}: fsync of its folder failed: {}", path, std::strerror(error)));
}

void rename_into_place(const std::string& temporary, const std::string& path) {
  std::error_code ec;
  std::filesystem::rename(temporary, path, ec);
  if (!ec) return;
  std::remove(temporary.c_str());
  throw RuntimeError(fmt::format("{}: cannot rename {} into place: {}", path, temporary, ec.message()));
}

PendingFile::PendingFile(std::string path) : path_(std::move(path)), temporary_(path_ + ".tmp") {}

PendingFile::~PendingFile() {
  if (!committed_) std::remove(temporary_.c_str());
}

void PendingFile::commit() {
  rename_into_place(temporary_, path_);
  committed_ = true;
}

void throw_write_failed(const std::string& path, const char* what) {
  const int error = errno;
  throw RuntimeError(fmt::format("{}: {} failed: {}", path, what, error != 0 ? std::strerror(error) : "unknown error"));
}

}  // namespace taskrel::io
