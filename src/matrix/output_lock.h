// Who may write the journals of an output directory. A run's world rank 0
// holds, for the run's whole life (io/file_lock.h: released by the kernel
// when the process ends, so a killed run never blocks the next one):
//   - OUTPUT/locks/encoder-<name>.lock, exclusive, for every encoder it
//     computes: two runs that would journal the same triples cannot run at
//     once, while Slurm array tasks on disjoint encoders (`--encoder`, each
//     writing its own journal files) share one output directory;
//   - OUTPUT/locks/journal.lock, shared: journals are being written.
//     Compaction rewrites the journal files, so it needs this lock exclusive
//     and is skipped while any run still writes.
// A --collect without compaction takes no lock (it only reads).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "io/file_lock.h"

namespace taskrel::matrix {

class OutputLocks {
 public:
  // Takes the locks of a run computing `encoders` into `output`. InputError
  // naming the directory, the encoder and the running process when another
  // run holds one of them. With `restart` (which deletes every journal of
  // the directory) journal.lock is held exclusively until
  // restart_done(): InputError when any other run is writing there.
  OutputLocks(const std::string& output, const std::vector<std::string>& encoders, const std::string& run,
              bool restart);

  // After --restart's deletions: journal.lock back to shared.
  void restart_done();

  // At the end of a run: true when no other run writes journals here any
  // more, and this one may compact them (it then holds journal.lock exclusive).
  bool make_exclusive_for_compaction();

 private:
  std::unique_ptr<io::FileLock> journal_;
  std::vector<std::unique_ptr<io::FileLock>> encoders_;
};

// For --collect: journal.lock exclusive, or nullptr when a run is writing.
std::unique_ptr<io::FileLock> lock_for_compaction(const std::string& output);

}  // namespace taskrel::matrix
