// `taskrel`, the front: the commands that need no LibTorch (import, inspect,
// ot, correlate) and --help, started at once -- no LibTorch and no CUDA
// libraries to load, and no MPI_Init unless an MPI launcher started the
// process. The commands that train or fit, and in a CUDA build an `ot` that
// may run on a GPU, are handed to taskrel-torch beside this binary (exec,
// before MPI is touched, so mpiexec and srun see the same process).
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "cli/app.h"
#include "comm/serial_communicator.h"
#include "core/error.h"

namespace {

// The torch commands in --help: name and description only (their options
// are taskrel-torch's); reached only if the hand-over did not happen.
void add_torch_command_entries(CLI::App& root, taskrel::cli::CommandAction& action) {
  for (const auto& info : taskrel::cli::torch_command_infos()) {
    CLI::App* command = root.add_subcommand(info.name, info.description);
    command->allow_extras();
    command->callback([&action] {
      action = [](taskrel::Communicator&) -> int {
        throw taskrel::RuntimeError("this command is taskrel-torch's, and the hand-over to it did not happen");
      };
    });
  }
}

#ifdef TASKREL_TORCH_HAS_CUDA
constexpr bool kTorchHasCuda = true;
#else
constexpr bool kTorchHasCuda = false;
#endif

}  // namespace

int main(int argc, char** argv) {
  const std::string command = taskrel::cli::requested_command(argc, argv);
  if (taskrel::cli::runs_in_torch_binary(argc, argv, kTorchHasCuda,
                                         kTorchHasCuda && taskrel::cli::gpu_may_be_visible())) {
    std::error_code ec;
    const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    const std::string torch = ((ec ? std::filesystem::path(argv[0]) : self).parent_path() / "taskrel-torch").string();
    execv(torch.c_str(), argv);
    std::fprintf(stderr, "taskrel: failure: `%s` runs in %s, which could not be started: %s\n", command.c_str(),
                 torch.c_str(), std::strerror(errno));
    return taskrel::kExitFailure;
  }
  return taskrel::cli::run_app(argc, argv,
                               {taskrel::cli::add_import_command, taskrel::cli::add_inspect_command,
                                taskrel::cli::add_ot_command, add_torch_command_entries,
                                taskrel::cli::add_correlate_command},
                               taskrel::started_by_mpi_launcher());
}
