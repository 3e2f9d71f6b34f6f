// The collective interface every distributed part of taskrel talks to.
//
// src/ot and src/relatedness never call MPI directly: they receive a
// Communicator. The MPI backend (mpi_communicator.h) is the host transport;
// the NCCL backend for device buffers plugs in behind this same interface.
// Every collective is called by all ranks of the communicator in the same
// order (the usual MPI contract); a failing call throws RuntimeError naming
// file:line and rank.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace taskrel {

class MpiCommunicator;

enum class ReduceOp { kSum, kMax, kMin };

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;

  // In-place all-reduce over all ranks.
  virtual void all_reduce(double* data, std::size_t count, ReduceOp op) = 0;
  virtual void all_reduce(float* data, std::size_t count, ReduceOp op) = 0;
  virtual void all_reduce(long long* data, std::size_t count, ReduceOp op) = 0;

  virtual void broadcast(void* data, std::size_t bytes, int root) = 0;
  virtual void barrier() = 0;

  // Ranks with the same colour form a new communicator, ordered by key.
  virtual std::unique_ptr<Communicator> split(int color, int key) const = 0;

  // The MPI communicator that carries this one's host collectives, for the
  // libraries that need an MPI_Comm of their own (MPI-IO in parallel HDF5);
  // nullptr when there is none.
  virtual const MpiCommunicator* mpi_host() const { return nullptr; }

  // Convenience wrappers.
  double all_reduce_sum(double value);
  double all_reduce_max(double value);
  long long all_reduce_sum(long long value);
  void all_reduce(std::vector<double>& values, ReduceOp op) {
    all_reduce(values.data(), values.size(), op);
  }
  void broadcast_string(std::string& text, int root);
};

// World rank of this process, or 0 before MPI_Init; used in error messages.
int world_rank_for_messages();

}  // namespace taskrel
