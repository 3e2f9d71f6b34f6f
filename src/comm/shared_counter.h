// Counters that every rank of a communicator can fetch-and-add without a
// dispatcher: MPI-3 atomics (MPI_Fetch_and_op) on a window held by rank 0,
// under one lock_all epoch. `taskrel matrix` keeps its work queue in one (the
// next triple, the triples finished, a stop flag), so a rank group takes
// work as soon as it is free and no rank is spent on handing it out.
#pragma once

#include "comm/mpi_communicator.h"

namespace taskrel {

class SharedCounters {
 public:
  // Collective over `comm`: `slots` counters, all 0.
  SharedCounters(const MpiCommunicator& comm, int slots);
  SharedCounters(const SharedCounters&) = delete;
  SharedCounters& operator=(const SharedCounters&) = delete;
  // Not freed on error paths: MPI_Win_free is collective and the job aborts anyway.
  ~SharedCounters() = default;

  // Adds `value` to counter `slot` and returns its previous value (atomic).
  long long fetch_add(int slot, long long value);
  long long read(int slot);

  // Rank 0 only: the counters in its own memory, for a thread that must not
  // call MPI (a plain atomic load; the unified memory model makes remote
  // updates visible, at worst a little late).
  const long long* local() const { return base_; }

  // Collective: ends the epoch and frees the window.
  void close();

 private:
  long long* base_ = nullptr;
  MPI_Win window_ = MPI_WIN_NULL;
};

}  // namespace taskrel
