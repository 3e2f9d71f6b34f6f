#include "io/append_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "core/error.h"

namespace taskrel::io {

namespace fs = std::filesystem;

namespace {

// A new file is only durable once its folder entry is.
void fsync_directory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

AppendLog::AppendLog(std::string path, std::string first_line)
    : path_(std::move(path)), first_line_(std::move(first_line)) {}

AppendLog::~AppendLog() {
  if (fd_ >= 0) ::close(fd_);
}

void AppendLog::write_all(const std::string& text) {
  // One write() per line: a kill leaves the line either whole or cut short
  // at the end of the file, never interleaved.
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd_, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw RuntimeError(fmt::format("{}: write failed: {}", path_, std::strerror(errno)));
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd_) != 0) throw RuntimeError(fmt::format("{}: fsync failed: {}", path_, std::strerror(errno)));
}

void AppendLog::append(const std::string& line) {
  if (fd_ < 0) {
    const std::string dir = fs::path(path_).parent_path().string();
    std::error_code ec;
    if (!dir.empty()) fs::create_directories(dir, ec);
    const bool existed = fs::exists(path_, ec);
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd_ < 0) throw RuntimeError(fmt::format("{}: cannot open for appending: {}", path_, std::strerror(errno)));
    if (!existed && !first_line_.empty()) write_all(first_line_ + "\n");
    if (!existed) fsync_directory(dir.empty() ? "." : dir);
  }
  write_all(line + "\n");
}

LogLines read_log_lines(const std::string& path) {
  LogLines out;
  std::error_code ec;
  if (!fs::exists(path, ec)) return out;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw RuntimeError(fmt::format("{}: cannot read", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find('\n', start);
    if (end == std::string::npos) {  // cut off by a kill
      out.cut_off = true;
      break;
    }
    out.lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

}  // namespace taskrel::io
