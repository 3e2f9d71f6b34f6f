// `taskrel matrix`: every (encoder, reference, target) triple of a job spec,
// computed by rank groups from a dynamic work queue, journalled durably, and
// collected into the result store.
//
// Shape of a run:
//   - MPI_COMM_WORLD is split into groups of ranks_per_triple consecutive
//     ranks (the last group may be smaller); each group computes one triple at
//     a time with the OT sharded over its ranks (relate() on the group).
//   - The queue is the list of unfinished triples, largest first; the next
//     index is an MPI-3 atomic counter (MPI_Fetch_and_op) on world rank 0, so
//     no rank is spent on dispatching and a group takes work as soon as it is
//     free.
//   - Each group leader appends every finished triple (ok or failed) to its
//     own journal file with fsync (journal.h). Tasks are kept per rank in an
//     LRU cache of cache_gib, so an embedding block is read once per group.
//   - SIGTERM / SIGUSR1 end the process at once with kExitInterrupted (3):
//     the journal is already durable, the triples in flight are recomputed by
//     the rerun. A rerun skips finished triples (failed ones are retried).
#pragma once

#include "comm/mpi_communicator.h"
#include "matrix/job_spec.h"

namespace taskrel::matrix {

// Exit codes of `taskrel matrix` beyond core/error.h's 0, 1, 2.
enum MatrixExitCode : int {
  kExitInterrupted = 3,   // stopped by SIGTERM/SIGUSR1; the journal is consistent: rerun (requeue) to resume
  kExitTriplesFailed = 4, // all triples ran, but some failed (recorded with their error); or --fail-fast stopped
};

struct MatrixRunOptions {
  bool collect_only = false;  // only turn the journal into relatedness.csv / .h5
  bool restart = false;       // discard earlier journals and results first
  bool fail_fast = false;     // stop handing out triples after the first failure
  bool collect = true;        // collect at the end (off for array-job tasks)
};

// Collective over `world`. Returns the command's exit code (the same on every rank).
int run_matrix(MpiCommunicator& world, const JobSpec& spec, const MatrixRunOptions& options);

// Reads the journals of spec.output and writes relatedness.csv and .h5 (one
// process). Returns {triples ok, triples failed}.
std::pair<int, int> collect_results(const JobSpec& spec);

}  // namespace taskrel::matrix
