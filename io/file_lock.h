// Advisory locks tied to a process: flock(2) on a lock file. The kernel
// releases the lock when the holding process ends, however it ends, so a
// lock left by a SIGKILLed (or OOM-killed, or crashed) run never blocks the
// next one: the lock file stays behind, the lock does not. The file holds a
// line naming the holder, for the message of whoever is refused.
//
// flock locks are per open file description: two FileLocks on one file in
// one process conflict like two processes would. They hold on local file
// systems and on NFS (Linux emulates flock with byte-range locks there).
#pragma once

#include <memory>
#include <string>

namespace taskrel::io {

class FileLock {
 public:
  enum class Mode { kShared, kExclusive };

  // Takes the lock on `path` (created if missing, with its folder). Without
  // `wait`, returns nullptr at once when another holder has an incompatible
  // lock. RuntimeError naming the file when the file cannot be opened or
  // flock fails otherwise.
  static std::unique_ptr<FileLock> acquire(const std::string& path, Mode mode, bool wait);

  ~FileLock();  // releases (closes the file)
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

  // Replaces the file's content with `text` (who holds it and since when).
  void describe_holder(const std::string& text);

  // Shared -> exclusive without waiting; false when someone else holds it.
  // A failed conversion leaves no lock at all (flock drops the old one first).
  bool try_make_exclusive();

  // Exclusive -> shared (waits for nothing: only this holder has it).
  void make_shared();

  const std::string& path() const { return path_; }

 private:
  FileLock(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  std::string path_;
  int fd_;
};

// The holder line in a lock file; "" when there is none or it cannot be read.
std::string read_lock_holder(const std::string& path);

}  // namespace taskrel::io
