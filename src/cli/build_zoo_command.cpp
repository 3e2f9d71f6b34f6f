// `taskrel build-zoo`: builds the bundled Fashion-MNIST encoder zoo (encoders
// trained with LibTorch, their embeddings of every task, and the fine-tuned
// accuracy of every encoder on every target). Cached and resumable: see
// src/fmnist_zoo/zoo_builder.h. One process: the training uses LibTorch's
// threads, not MPI ranks.
#include <spdlog/spdlog.h>

#include "fmnist_zoo/zoo_builder.h"
#include "cli/commands.h"
#include "core/error.h"

namespace taskrel::cli {
namespace {

struct BuildZooOptions {
  fmnist_zoo::ZooBuildOptions zoo;

  void add_to(CLI::App& c) {
    c.add_option("--out", zoo.out_dir, "Directory of the zoo (store.h5, finetune.csv, zoo.json, encoders/)")
        ->required();
    c.add_option("--preset", zoo.preset,
                 "default: 10 CNN encoders x 8 targets, 64-d (minutes); small: 4 x 4, for CI; second: an independent "
                 "zoo of 10 MLP / CNN / deeper-CNN encoders x 7 other targets, 128-d")
        ->check(CLI::IsMember({"default", "small", "second"}))
        ->capture_default_str();
    c.add_option("--data", zoo.data_dir, "Directory of the Fashion-MNIST IDX files (*-ubyte.gz)")
        ->capture_default_str();
    c.add_option("--seed", zoo.seed, "Seed of every random choice (task draws, initialisation, batches)")
        ->capture_default_str();
    c.add_option("--threads", zoo.threads, "LibTorch threads (0: every core)")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    c.add_flag("--force", zoo.force, "Rebuild from scratch, replacing a zoo built with another preset or seed");
  }
};

int run_build_zoo(const BuildZooOptions& options, Communicator& world) {
  if (world.size() > 1)
    throw InputError(fmt::format("build-zoo runs as one process (it uses LibTorch threads, not MPI ranks); run it "
                                 "without mpiexec, not with {} ranks",
                                 world.size()));
  fmnist_zoo::build_zoo(options.zoo);
  return kExitSuccess;
}

}  // namespace

void add_build_zoo_command(CLI::App& root, CommandAction& action) {
  auto options = std::make_shared<BuildZooOptions>();
  CLI::App* command = root.add_subcommand("build-zoo", torch_command_description("build-zoo"));
  options->add_to(*command);
  command->callback([options, &action] {
    action = [options](Communicator& world) { return run_build_zoo(*options, world); };
  });
}

}  // namespace taskrel::cli
