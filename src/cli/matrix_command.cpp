// `taskrel matrix JOB.toml`: the relatedness of every (encoder, reference,
// target) triple of a job spec, under mpiexec or srun (src/matrix).
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "cli/option_flags.h"
#include "comm/mpi_communicator.h"
#include "core/error.h"
#include "matrix/job_spec.h"
#include "matrix/matrix_run.h"

namespace taskrel::cli {

namespace {

struct MatrixCliOptions {
  std::string job;
  bool collect = false;
  bool restart = false;
  bool fail_fast = false;
  bool list_encoders = false;
  std::string output;
  std::string store;
  std::vector<std::string> encoders;
  std::optional<ot::Device> device;
  std::optional<ot::CostPrecision> precision;

  void add_to(CLI::App& c) {
    c.add_option("job", job, "Job spec (TOML; see jobs/fmnist.toml)")->required();
    c.add_flag("--collect", collect,
               "Only turn the journal into relatedness.csv and relatedness.h5 (no computing)");
    c.add_flag("--restart", restart,
               "Discard earlier journals and results in the output directory (needed after changing options that "
               "change results)");
    c.add_flag("--fail-fast", fail_fast, "Stop handing out triples after the first failed one");
    c.add_flag("--list-encoders", list_encoders, "Validate the job, print its encoders one per line and exit (array jobs)");
    c.add_option("--output", output, "Output directory (overrides the job's `output`)");
    c.add_option("--store", store, "Embedding store, file or directory (overrides the job's `store`)");
    c.add_option("--encoder", encoders,
                 "Only these encoders of the job (repeatable; for array jobs: skips the final collect)");
    add_enum_flag(c, "--device", device,
                  "Where the OT solves run (overrides the job's `device`; default: cuda when built with it and a GPU "
                  "is visible)");
    add_enum_flag(c, "--precision", precision,
                  "Storage of the OT cost blocks (overrides the job's [relate] `precision`; default: float32 on the "
                  "CPU, float16 on cuda)");
    c.footer(
        "Exit codes: 0 all triples done; 1 runtime failure; 2 bad job spec or input (nothing computed); "
        "3 stopped by SIGTERM/SIGUSR1 (journal consistent: rerun or requeue to resume); "
        "4 finished, but some triples failed (see status/error in relatedness.csv), or --fail-fast stopped.");
  }
};

int run(const MatrixCliOptions& o, Communicator& world) {
  matrix::JobOverrides overrides;
  overrides.output = o.output;
  overrides.store = o.store;
  overrides.encoders = o.encoders;
  overrides.device = o.device;
  overrides.precision = o.precision;
  const matrix::JobSpec spec = matrix::parse_job_spec(o.job, overrides);
  if (o.list_encoders) {
    if (world.rank() == 0)
      for (const auto& encoder : spec.encoders) std::cout << encoder << "\n";
    std::cout.flush();
    return kExitSuccess;
  }
  matrix::MatrixRunOptions options;
  options.collect_only = o.collect;
  options.restart = o.restart;
  options.fail_fast = o.fail_fast;
  options.collect = o.encoders.empty();
  // The work queue is an MPI-3 window over every rank: the matrix needs MPI
  // itself, which taskrel-torch always initialises.
  auto mpi_world = MpiCommunicator::world();
  return matrix::run_matrix(mpi_world, spec, options);
}

}  // namespace

void add_matrix_command(CLI::App& root, CommandAction& action) {
  auto options = std::make_shared<MatrixCliOptions>();
  CLI::App* command = root.add_subcommand("matrix", torch_command_description("matrix"));
  options->add_to(*command);
  command->callback([options, &action]() {
    action = [options](Communicator& world) { return run(*options, world); };
  });
}

}  // namespace taskrel::cli
