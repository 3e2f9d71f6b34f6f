#include "comm/shared_counter.h"

#include "comm/mpi_check.h"

namespace taskrel {

SharedCounters::SharedCounters(const MpiCommunicator& comm, int slots) {
  const MPI_Aint bytes = comm.rank() == 0 ? slots * static_cast<MPI_Aint>(sizeof(long long)) : 0;
  TASKREL_MPI_CHECK(MPI_Win_allocate(bytes, sizeof(long long), MPI_INFO_NULL, comm.native(), &base_, &window_));
  TASKREL_MPI_CHECK(MPI_Win_set_errhandler(window_, MPI_ERRORS_RETURN));  // so the checks report, not abort
  if (comm.rank() == 0)
    for (int i = 0; i < slots; ++i) base_[i] = 0;
  TASKREL_MPI_CHECK(MPI_Barrier(comm.native()));
  TASKREL_MPI_CHECK(MPI_Win_lock_all(MPI_MODE_NOCHECK, window_));
}

long long SharedCounters::fetch_add(int slot, long long value) {
  long long previous = 0;
  TASKREL_MPI_CHECK(MPI_Fetch_and_op(&value, &previous, MPI_LONG_LONG, 0, slot, MPI_SUM, window_));
  TASKREL_MPI_CHECK(MPI_Win_flush(0, window_));
  return previous;
}

long long SharedCounters::read(int slot) {
  long long value = 0;
  TASKREL_MPI_CHECK(MPI_Fetch_and_op(nullptr, &value, MPI_LONG_LONG, 0, slot, MPI_NO_OP, window_));
  TASKREL_MPI_CHECK(MPI_Win_flush(0, window_));
  return value;
}

void SharedCounters::close() {
  TASKREL_MPI_CHECK(MPI_Win_unlock_all(window_));
  TASKREL_MPI_CHECK(MPI_Win_free(&window_));
}

}  // namespace taskrel
