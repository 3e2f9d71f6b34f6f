// The life of a taskrel process, shared by the two executables (commands.h):
// MPI when it is wanted, the command line, the chosen command, exit codes.
//
// MPI: initialised when `use_mpi` (taskrel-torch always; the front only when
// started by mpiexec or srun), then finalised on success and MPI_Abort-ed
// when a rank fails while others may still be waiting in a collective (a
// failing rank must never hang the job). Without MPI the command gets a
// one-rank SerialCommunicator.
#pragma once

#include <vector>

#include "cli/commands.h"

namespace taskrel::cli {

int run_app(int argc, char** argv, const std::vector<CommandRegistrar>& commands, bool use_mpi);

// The first word of the command line that is not a global flag (the
// subcommand the user asked for), or "" when there is none.
std::string requested_command(int argc, char** argv);

}  // namespace taskrel::cli
