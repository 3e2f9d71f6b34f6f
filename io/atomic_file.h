// Files that readers never see half written: the content goes to a
// temporary name beside the file and is renamed over it (atomic on POSIX), so
// a killed process leaves the old file or the whole new one. The temporary
// is `path + ".tmp"`.
#pragma once

#include <string>

namespace taskrel::io {

// Writes `text` to `path` through its temporary. InputError when the
// temporary cannot be created (a missing or read-only folder: the path the
// user gave), RuntimeError naming the file when writing or renaming fails;
// no temporary is left behind either way.
void write_file_atomically(const std::string& path, const std::string& text);

// Like write_file_atomically, and durable: the temporary is fsync'ed before
// the rename and the folder after it, so after a power loss the path holds
// the old content or the whole new one. The temporary is `temporary`
// (it must be in the same folder). RuntimeError naming the file on failure.
void write_file_durably(const std::string& path, const std::string& temporary, const std::string& text);

// Renames a finished temporary over `path`; RuntimeError naming both on failure.
void rename_into_place(const std::string& temporary, const std::string& path);

// The temporary of a file written by a library that opens it by name (HDF5,
// an ofstream): removed on destruction unless commit() renamed it over
// `path`, so a write error or an exception part-way leaves the old file as it
// was and no debris (relatedness.csv, relatedness.h5).
class PendingFile {
 public:
  explicit PendingFile(std::string path);
  ~PendingFile();
  PendingFile(const PendingFile&) = delete;
  PendingFile& operator=(const PendingFile&) = delete;
  const std::string& temporary() const { return temporary_; }
  void commit();

 private:
  std::string path_, temporary_;
  bool committed_ = false;
};

// RuntimeError "<path>: <what> failed: <strerror(errno)>" for a failed write
// through a stream, which keeps no reason of its own (errno has it: EFBIG past
// the file-size limit, ENOSPC on a full disk).
[[noreturn]] void throw_write_failed(const std::string& path, const char* what);

}  // namespace taskrel::io
