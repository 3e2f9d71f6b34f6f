// Checked MPI calls: every MPI function goes through TASKREL_MPI_CHECK, which
// turns a failure into a RuntimeError naming the call, file:line, the world
// rank and MPI's own error string.
#pragma once

#include <mpi.h>

#include <string>

namespace taskrel {

[[noreturn]] void throw_mpi_error(int code, const char* call, const char* file, int line);

}  // namespace taskrel

#define TASKREL_MPI_CHECK(call)                                                     \
  do {                                                                              \
    int taskrel_mpi_status_ = (call);                                               \
    if (taskrel_mpi_status_ != MPI_SUCCESS)                                         \
      ::taskrel::throw_mpi_error(taskrel_mpi_status_, #call, __FILE__, __LINE__);  \
  } while (false)
