// See file_lock.h.
#include "io/file_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "core/error.h"

namespace taskrel::io {

namespace fs = std::filesystem;

std::unique_ptr<FileLock> FileLock::acquire(const std::string& path, Mode mode, bool wait) {
  const fs::path folder = fs::path(path).parent_path();
  std::error_code ec;
  if (!folder.empty()) fs::create_directories(folder, ec);
  int fd = -1;
  do {
    fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) throw RuntimeError(fmt::format("{}: cannot open the lock file: {}", path, std::strerror(errno)));
  const int operation = (mode == Mode::kShared ? LOCK_SH : LOCK_EX) | (wait ? 0 : LOCK_NB);
  int result = -1;
  do {
    result = ::flock(fd, operation);
  } while (result != 0 && errno == EINTR);
  if (result != 0) {
    const int error = errno;
    ::close(fd);
    if (error == EWOULDBLOCK) return nullptr;
    throw RuntimeError(fmt::format("{}: flock failed: {}", path, std::strerror(error)));
  }
  return std::unique_ptr<FileLock>(new FileLock(path, fd));
}

FileLock::~FileLock() { ::close(fd_); }  // closing releases the lock; nothing was written that could be lost

void FileLock::describe_holder(const std::string& text) {
  const std::string line = text + "\n";
  if (::ftruncate(fd_, 0) != 0)
    throw RuntimeError(fmt::format("{}: cannot truncate the lock file: {}", path_, std::strerror(errno)));
  std::size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::pwrite(fd_, line.data() + done, line.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw RuntimeError(fmt::format("{}: cannot write the lock file: {}", path_, std::strerror(errno)));
    done += static_cast<std::size_t>(n);
  }
}

bool FileLock::try_make_exclusive() {
  int result = -1;
  do {
    result = ::flock(fd_, LOCK_EX | LOCK_NB);
  } while (result != 0 && errno == EINTR);
  if (result == 0) return true;
  if (errno == EWOULDBLOCK) return false;
  throw RuntimeError(fmt::format("{}: flock failed: {}", path_, std::strerror(errno)));
}

void FileLock::make_shared() {
  int result = -1;
  do {
    result = ::flock(fd_, LOCK_SH);
  } while (result != 0 && errno == EINTR);
  if (result != 0) throw RuntimeError(fmt::format("{}: flock failed: {}", path_, std::strerror(errno)));
}

std::string read_lock_holder(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

}  // namespace taskrel::io
