// The communicator of a process started without an MPI launcher: one rank,
// collectives that leave the data as it is. The `taskrel` front uses it for
// commands run by hand, so they do not pay MPI_Init (about 0.3 s) to talk to
// nobody; under mpiexec or srun the MPI communicator is used instead.
#pragma once

#include "comm/communicator.h"

namespace taskrel {

class SerialCommunicator final : public Communicator {
 public:
  using Communicator::all_reduce;
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void all_reduce(double*, std::size_t, ReduceOp) override {}
  void all_reduce(float*, std::size_t, ReduceOp) override {}
  void all_reduce(long long*, std::size_t, ReduceOp) override {}
  void broadcast(void*, std::size_t, int) override {}
  void barrier() override {}
  std::unique_ptr<Communicator> split(int, int) const override { return std::make_unique<SerialCommunicator>(); }
};

// Whether this process was started by an MPI launcher (mpiexec, srun
// --mpi=pmix): OpenMPI's and PMIx's rank variables, or TASKREL_MPI=1.
bool started_by_mpi_launcher();

}  // namespace taskrel
