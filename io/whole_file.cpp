// See whole_file.h. POSIX open/read rather than iostreams: a stream's
// seekg/tellg on a pipe yields -1, which is how a piped .npy once became
// "cannot create std::vector larger than max_size()".
#include "io/whole_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "core/error.h"

namespace taskrel::io {
namespace {

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);  // read-only: a failed close loses nothing
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

std::vector<char> read_whole_file(const std::string& path, const std::string& what) {
  int fd = -1;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) throw InputError(fmt::format("{}: cannot open {} ({})", path, what, std::strerror(errno)));
  const FileDescriptor file(fd);
  struct stat info {};
  if (::fstat(file.get(), &info) != 0)
    throw InputError(fmt::format("{}: cannot stat {} ({})", path, what, std::strerror(errno)));
  if (S_ISDIR(info.st_mode)) throw InputError(fmt::format("{}: is a directory, not a {}", path, what));
  // A regular file's size is only a first guess (it may change while it is
  // read); either way the loop reads until read() says end of file. The one
  // spare byte lets a file of the stated size end without a regrowth.
  std::vector<char> bytes(S_ISREG(info.st_mode) ? static_cast<std::size_t>(info.st_size) + 1 : std::size_t{1} << 20);
  std::size_t used = 0;
  while (true) {
    if (used == bytes.size()) bytes.resize(bytes.size() * 2);
    const ssize_t got = ::read(file.get(), bytes.data() + used, bytes.size() - used);
    if (got < 0) {
      if (errno == EINTR) continue;
      throw InputError(fmt::format("{}: read error in {} after {} bytes ({})", path, what, used, std::strerror(errno)));
    }
    if (got == 0) break;
    used += static_cast<std::size_t>(got);
  }
  bytes.resize(used);
  return bytes;
}

bool is_stream_file(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return false;  // missing: not a stream; the caller's open reports it
  return !S_ISREG(info.st_mode) && !S_ISDIR(info.st_mode);
}

void require_regular_file(const std::string& path, const std::string& kind) {
  if (is_stream_file(path))
    throw InputError(fmt::format("{} is not a regular file (a pipe, socket or device); {} must be files", path, kind));
}

}  // namespace taskrel::io
