// See output_lock.h.
#include "matrix/output_lock.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <functional>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/error.h"

namespace taskrel::matrix {

namespace fs = std::filesystem;

namespace {

std::string lock_directory(const std::string& output) { return (fs::path(output) / "locks").string(); }

// Encoder names are HDF5 group names: anything but '/' and '.'. A name that
// is not plain gets a hash suffix so two names never share a lock file.
std::string lock_file_of(const std::string& output, const std::string& encoder) {
  std::string plain;
  bool changed = false;
  for (const char c : encoder) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                    c == '.';
    plain += ok ? c : '_';
    changed |= !ok;
  }
  if (changed || plain.empty() || plain.size() > 120)
    plain = fmt::format("{}-{:016x}", plain.substr(0, 120), std::hash<std::string>{}(encoder));
  return (fs::path(lock_directory(output)) / ("encoder-" + plain + ".lock")).string();
}

// One descriptor per encoder lock: a large zoo can exceed the default soft
// limit of open files (1024), so it is raised toward the hard limit.
void allow_open_files(std::size_t needed) {
  struct rlimit limit {};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0)
    throw RuntimeError(fmt::format("getrlimit(RLIMIT_NOFILE) failed: {}", std::strerror(errno)));
  const rlim_t want = static_cast<rlim_t>(needed + 256);
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < want) {
    if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < want)
      throw InputError(fmt::format("{} encoder locks need {} open files, but the hard limit is {} (ulimit -Hn)",
                                   needed, want, static_cast<unsigned long long>(limit.rlim_max)));
    limit.rlim_cur = want;
    if (::setrlimit(RLIMIT_NOFILE, &limit) != 0)
      throw RuntimeError(fmt::format("setrlimit(RLIMIT_NOFILE, {}) failed: {}", static_cast<unsigned long long>(want),
                                     std::strerror(errno)));
  }
}

std::string holder_text(const std::string& run) {
  char host[256] = {0};
  if (::gethostname(host, sizeof(host) - 1) != 0) std::strcpy(host, "?");
  const std::time_t now = std::time(nullptr);
  std::tm tm {};
  gmtime_r(&now, &tm);
  char since[32];
  std::strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return fmt::format("pid {} on {} (run {}, since {})", ::getpid(), host, run, since);
}

}  // namespace

OutputLocks::OutputLocks(const std::string& output, const std::vector<std::string>& encoders, const std::string& run,
                         bool restart) {
  allow_open_files(encoders.size());
  const std::string journal_lock = (fs::path(lock_directory(output)) / "journal.lock").string();
  if (restart) {
    journal_ = io::FileLock::acquire(journal_lock, io::FileLock::Mode::kExclusive, false);
    if (!journal_)
      throw InputError(fmt::format("{}: another taskrel matrix is writing journals into this output directory; "
                                   "--restart would delete them: wait for it to end, or choose another --output",
                                   output));
  } else {
    // Shared, and waiting: only a compaction (seconds) or a --restart's
    // deletions hold it exclusively.
    journal_ = io::FileLock::acquire(journal_lock, io::FileLock::Mode::kShared, true);
  }
  const std::string holder = holder_text(run);
  for (const auto& encoder : encoders) {
    const std::string path = lock_file_of(output, encoder);
    auto lock = io::FileLock::acquire(path, io::FileLock::Mode::kExclusive, false);
    if (!lock) {
      const std::string other = io::read_lock_holder(path);
      throw InputError(fmt::format(
          "{}: another taskrel matrix is already computing encoder {} into this output directory ({}); two runs "
          "would journal the same triples: wait for it to end, or give this run another --output or other --encoder",
          output, encoder, other.empty() ? std::string("process unknown") : other));
    }
    lock->describe_holder(holder);
    encoders_.push_back(std::move(lock));
  }
}

void OutputLocks::restart_done() { journal_->make_shared(); }

bool OutputLocks::make_exclusive_for_compaction() { return journal_ && journal_->try_make_exclusive(); }

std::unique_ptr<io::FileLock> lock_for_compaction(const std::string& output) {
  return io::FileLock::acquire((fs::path(lock_directory(output)) / "journal.lock").string(),
                               io::FileLock::Mode::kExclusive, false);
}

}  // namespace taskrel::matrix
