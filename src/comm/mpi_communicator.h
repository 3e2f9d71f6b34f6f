// MPI host communicator: the CPU transport of taskrel's collectives.
//
// Owns its MPI_Comm when it was created by split(); wraps MPI_COMM_WORLD (or
// any borrowed communicator) without owning it. Errors are returned, not
// fatal (MPI_ERRORS_RETURN), so TASKREL_MPI_CHECK can report them.
// MPI_Init / MPI_Finalize belong to main() alone (see mpi_session.h).
#pragma once

#include <mpi.h>

#include "comm/communicator.h"

namespace taskrel {

class MpiCommunicator final : public Communicator {
 public:
  // Borrows `comm` (not freed on destruction).
  explicit MpiCommunicator(MPI_Comm comm);
  ~MpiCommunicator() override;
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  static MpiCommunicator world();

  using Communicator::all_reduce;
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void all_reduce(double* data, std::size_t count, ReduceOp op) override;
  void all_reduce(float* data, std::size_t count, ReduceOp op) override;
  void all_reduce(long long* data, std::size_t count, ReduceOp op) override;
  void broadcast(void* data, std::size_t bytes, int root) override;
  void barrier() override;
  std::unique_ptr<Communicator> split(int color, int key) const override;
  const MpiCommunicator* mpi_host() const override { return this; }

  // The native handle, for libraries that take an MPI_Comm (parallel HDF5).
  MPI_Comm native() const { return comm_; }

  MpiCommunicator(MpiCommunicator&& other) noexcept;

 private:
  MpiCommunicator(MPI_Comm comm, bool owned);
  MPI_Comm comm_;
  bool owned_;
  int rank_ = 0;
  int size_ = 1;
};


}  // namespace taskrel
