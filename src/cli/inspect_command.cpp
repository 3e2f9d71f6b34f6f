// `taskrel inspect`: what an embedding store holds (encoders, datasets,
// splits, rows, dimension, dtypes, classes and class counts), as a table or
// as JSON. Every value is read and validated (unless --skip-values), so a bad
// store fails here with the same messages as everywhere else. Rank 0 only.
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/error.h"
#include "io/embedding_store.h"

namespace taskrel::cli {
namespace {

struct InspectOptions {
  std::string store;
  bool json = false;
  bool skip_values = false;
};

std::string counts_text(const io::SplitInfo& info) {
  std::string text;
  for (std::size_t c = 0; c < info.class_counts.size(); ++c) {
    const std::string name = c < info.class_names.size() ? info.class_names[c] : std::to_string(c);
    text += fmt::format("{}{}={}", c ? " " : "", name, info.class_counts[c]);
  }
  return text;
}

int run_inspect(const InspectOptions& o, Communicator& world) {
  if (world.rank() == 0) {
    io::EmbeddingStoreReader store(o.store);
    std::vector<io::SplitInfo> infos;
    for (const auto& encoder : store.encoders())
      for (const auto& dataset : store.datasets(encoder))
        for (const auto& split : store.splits(encoder, dataset)) infos.push_back(o.skip_values ? store.split_info(encoder, dataset, split)
                                                                     : store.validate_split(encoder, dataset, split));

    if (o.json) {
      nlohmann::json root = {{"store", o.store}, {"encoders", nlohmann::json::object()}};
      for (const auto& encoder : store.encoders()) root["encoders"][encoder] = nlohmann::json::object();
      for (const auto& i : infos) {
        auto& dataset = root["encoders"][i.encoder][i.dataset];
        dataset["num_classes"] = i.num_classes;
        dataset["class_names"] = i.class_names;
        dataset["splits"][i.split] = {{"rows", i.rows},           {"dim", i.dim},
                                      {"dtype", i.dtype},         {"label_dtype", i.label_dtype},
                                      {"class_counts", i.class_counts}};
      }
      std::cout << root.dump(2) << "\n";
    } else {
      std::cout << fmt::format("{}\n{:<16} {:<16} {:<10} {:>9} {:>6} {:<8} {:>7}  {}\n", o.store, "encoder",
                               "dataset", "split", "rows", "dim", "dtype", "classes", "class counts");
      for (const auto& i : infos) {
        std::cout << fmt::format("{:<16} {:<16} {:<10} {:>9} {:>6} {:<8} {:>7}  {}\n", i.encoder, i.dataset,
                                 i.split, i.rows, i.dim, i.dtype, i.num_classes, counts_text(i));
      }
      if (infos.empty()) std::cout << "(no splits)\n";
    }
  }
  world.barrier();
  return kExitSuccess;
}

}  // namespace

void add_inspect_command(CLI::App& root, CommandAction& action) {
  auto opts = std::make_shared<InspectOptions>();
  CLI::App* cmd = root.add_subcommand(
      "inspect", "List an embedding store's encoders, datasets and splits (rows, dim, dtype, classes); validates it");
  cmd->add_option("store", opts->store, "Store file (HDF5)")->required();
  cmd->add_flag("--skip-values", opts->skip_values,
                "Check labels only, not every embedding value for NaN/Inf (faster on large stores)");
  cmd->add_flag("--json", opts->json, "Print JSON instead of a table");
  cmd->callback([opts, &action] { action = [opts](Communicator& world) { return run_inspect(*opts, world); }; });
}

}  // namespace taskrel::cli
