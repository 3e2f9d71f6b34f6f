#include "comm/serial_communicator.h"

#include <cstdlib>
#include <cstring>

namespace taskrel {

bool started_by_mpi_launcher() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID"})
    if (std::getenv(name) != nullptr) return true;
  const char* forced = std::getenv("TASKREL_MPI");
  return forced != nullptr && std::strcmp(forced, "1") == 0;
}

}  // namespace taskrel
