// `taskrel-torch`: the commands that train or fit with LibTorch (relate,
// matrix, build-zoo), and `ot` when it may run on a GPU (this binary links
// the CUDA backend in a CUDA build; the front does not). Users run them as
// `taskrel relate ...`; the front hands them over to this binary. MPI is always initialised here (the matrix
// needs it even on one rank for its work queue).
#include "cli/app.h"

int main(int argc, char** argv) {
  return taskrel::cli::run_app(
      argc, argv,
      {taskrel::cli::add_ot_command, taskrel::cli::add_relate_command, taskrel::cli::add_matrix_command,
       taskrel::cli::add_build_zoo_command},
      /*use_mpi=*/true);
}
