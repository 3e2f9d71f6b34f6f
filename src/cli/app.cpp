#include "cli/app.h"

#include <malloc.h>
#include <mpi.h>

#include <csignal>

#include <cstdio>
#include <exception>
#include <memory>
#include <string>

#include "comm/mpi_communicator.h"
#include "comm/serial_communicator.h"
#include "core/error.h"
#include "core/log.h"

namespace taskrel::cli {

namespace {

void report(const char* kind, const char* what, int rank, int ranks) {
  if (ranks > 1) {
    std::fprintf(stderr, "taskrel: %s (rank %d): %s\n", kind, rank, what);
  } else {
    std::fprintf(stderr, "taskrel: %s: %s\n", kind, what);
  }
  std::fflush(stderr);
}

bool is_global_flag(const std::string& word) {
  return word == "-v" || word == "--verbose" || word == "-q" || word == "--quiet";
}

}  // namespace

std::string requested_command(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string word = argv[i];
    if (is_global_flag(word)) continue;
    return word.empty() || word[0] == '-' ? std::string() : word;
  }
  return {};
}

int run_app(int argc, char** argv, const std::vector<CommandRegistrar>& commands, bool use_mpi) {
  // The fits and OT solves allocate and free blocks of a few MB thousands of
  // times; glibc would map each from the kernel afresh (a page fault per 4 KB,
  // measured as a fifth of a fit's time). Keeping them in the heap reuses them.
  mallopt(M_MMAP_THRESHOLD, 512 << 20);
  mallopt(M_TRIM_THRESHOLD, 1024 << 20);
  // A write past the file-size limit (ulimit -f) would kill the process by
  // SIGXFSZ, in the middle of a write and without a word. Ignored, the write
  // fails with EFBIG instead, and the writer's error handling runs: the
  // partial split or temporary file is removed, and the message names the
  // file and "File too large" (README "Reliability").
  std::signal(SIGXFSZ, SIG_IGN);
  int rank = 0;
  int ranks = 1;
  if (use_mpi) {
    if (MPI_Init(&argc, &argv) != MPI_SUCCESS) {
      std::fprintf(stderr, "taskrel: error: MPI_Init failed\n");
      return kExitFailure;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  }
  auto finish = [&](int code) {
    if (use_mpi) MPI_Finalize();
    return code;
  };

  CLI::App app{"taskrel: task-relatedness (Mehra, Zhang & Hamm, NeurIPS 2024) for encoder zoos"};
  app.require_subcommand(1);
  app.fallthrough();  // global flags (-v, -q) may follow the subcommand
  app.set_version_flag("--version", "taskrel 0.1.0");
  bool verbose = false;
  bool quiet = false;
  app.add_flag("-v,--verbose", verbose, "More log output");
  app.add_flag("-q,--quiet", quiet, "Only warnings and errors");
  CommandAction action;
  for (CommandRegistrar add : commands) add(app, action);

  int code = kExitSuccess;
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    // --help and --version are "errors" with exit code 0.
    if (rank == 0) code = app.exit(error);
    else code = error.get_exit_code();
    if (code != 0) code = kExitBadInput;
    return finish(code);
  }

  configure_logging(rank, verbose, quiet);
  // A code returned by a command is agreed by all ranks (e.g. `matrix`'s 4:
  // some triples failed) and finalises normally; a rank that throws may leave
  // others in a collective, so it aborts the job.
  bool thrown = false;
  try {
    if (use_mpi) {
      auto world = MpiCommunicator::world();
      code = action(world);
    } else {
      SerialCommunicator alone;
      code = action(alone);
    }
  } catch (const InputError& error) {
    report("error", error.what(), rank, ranks);
    code = kExitBadInput;
    thrown = true;
  } catch (const std::exception& error) {
    report("failure", error.what(), rank, ranks);
    code = kExitFailure;
    thrown = true;
  }
  if (thrown && ranks > 1) MPI_Abort(MPI_COMM_WORLD, code);
  return finish(code);
}

}  // namespace taskrel::cli
