// Entry point of the `taskrel` command. Owns MPI's lifetime: MPI_Init here,
// MPI_Finalize on success, MPI_Abort when a rank fails while others may still
// be waiting in a collective (a failing rank must never hang the job).
#include <malloc.h>
#include <mpi.h>

#include <cstdio>
#include <exception>

#include "cli/commands.h"
#include "core/error.h"
#include "core/log.h"

namespace {

int report(const char* kind, const char* what, int rank, int ranks) {
  if (ranks > 1) {
    std::fprintf(stderr, "taskrel: %s (rank %d): %s\n", kind, rank, what);
  } else {
    std::fprintf(stderr, "taskrel: %s: %s\n", kind, what);
  }
  std::fflush(stderr);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // The fits and OT solves allocate and free blocks of a few MB thousands of
  // times; glibc would map each from the kernel afresh (a page fault per 4 KB,
  // measured as a fifth of a fit's time). Keeping them in the heap reuses them.
  mallopt(M_MMAP_THRESHOLD, 512 << 20);
  mallopt(M_TRIM_THRESHOLD, 1024 << 20);
  if (MPI_Init(&argc, &argv) != MPI_SUCCESS) {
    std::fprintf(stderr, "taskrel: error: MPI_Init failed\n");
    return taskrel::kExitFailure;
  }
  int rank = 0;
  int ranks = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);

  CLI::App app{"taskrel: task-relatedness (Mehra, Zhang & Hamm, NeurIPS 2024) for encoder zoos"};
  app.require_subcommand(1);
  app.fallthrough();  // global flags (-v, -q) may follow the subcommand
  app.set_version_flag("--version", "taskrel 0.1.0");
  bool verbose = false;
  bool quiet = false;
  app.add_flag("-v,--verbose", verbose, "More log output");
  app.add_flag("-q,--quiet", quiet, "Only warnings and errors");

  taskrel::cli::CommandAction action;
  taskrel::cli::add_import_command(app, action);
  taskrel::cli::add_inspect_command(app, action);
  taskrel::cli::add_ot_command(app, action);
  taskrel::cli::add_relate_command(app, action);
  taskrel::cli::add_matrix_command(app, action);
  taskrel::cli::add_correlate_command(app, action);
  taskrel::cli::add_build_zoo_command(app, action);

  int code = taskrel::kExitSuccess;
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    // --help and --version are "errors" with exit code 0.
    if (rank == 0) code = app.exit(error);
    else code = error.get_exit_code();
    if (code != 0) code = taskrel::kExitBadInput;
    MPI_Finalize();
    return code;
  }

  taskrel::configure_logging(rank, verbose, quiet);
  // A code returned by a command is agreed by all ranks (e.g. `matrix`'s 4:
  // some triples failed) and finalises normally; a rank that throws may leave
  // others in a collective, so it aborts the job.
  bool thrown = false;
  try {
    auto world = taskrel::MpiCommunicator::world();
    code = action(world);
  } catch (const taskrel::InputError& error) {
    report("error", error.what(), rank, ranks);
    code = taskrel::kExitBadInput;
    thrown = true;
  } catch (const std::exception& error) {
    report("failure", error.what(), rank, ranks);
    code = taskrel::kExitFailure;
    thrown = true;
  }

  if (thrown && ranks > 1) {
    MPI_Abort(MPI_COMM_WORLD, code);
  }
  MPI_Finalize();
  return code;
}
