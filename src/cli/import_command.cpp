// `taskrel import`: adds one split (embeddings + labels from .npy/.npz) to an
// HDF5 embedding store, in place. The store is only opened for writing after
// all input has been read and validated, so a failed import changes nothing.
// Runs on rank 0; other ranks (under mpiexec) just wait at a barrier.
#include <chrono>
#include <fstream>
#include <memory>

#include "cli/commands.h"
#include "core/error.h"
#include "core/log.h"
#include "io/embedding_store.h"
#include "io/npy.h"

namespace taskrel::cli {
namespace {

struct ImportOptions {
  std::string store;
  std::string encoder, dataset, split;
  std::string embeddings, labels;
  std::string embeddings_key, labels_key;
  std::string class_names_file;
  std::int64_t num_classes = 0;
  bool overwrite = false;
};

// "FILE.npz:member", or FILE plus --*-key, into {file, member}.
std::pair<std::string, std::string> source_of(const std::string& spec, const std::string& key, const char* flag) {
  auto [file, member] = io::split_npz_spec(spec);
  if (!key.empty()) {
    if (!member.empty()) throw InputError(fmt::format("{} names an npz member both inline and with {}", spec, flag));
    member = key;
  }
  const bool is_npz = file.size() >= 4 && file.compare(file.size() - 4, 4, ".npz") == 0;
  if (is_npz && member.empty())
    throw InputError(fmt::format("{}: an .npz needs a member: FILE.npz:NAME or {} NAME", file, flag));
  return {file, member};
}

std::vector<std::string> read_class_names(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InputError(fmt::format("{}: cannot open class names file", path));
  std::vector<std::string> names;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) names.push_back(line);
  }
  if (names.empty()) throw InputError(fmt::format("{}: no class names (one per line expected)", path));
  return names;
}

int run_import(const ImportOptions& o, MpiCommunicator& world) {
  if (world.rank() == 0) {
    const auto start = std::chrono::steady_clock::now();
    const auto [embeddings_file, embeddings_member] = source_of(o.embeddings, o.embeddings_key, "--embeddings-key");
    const auto [labels_file, labels_member] = source_of(o.labels, o.labels_key, "--labels-key");
    const io::FloatMatrix x = io::read_npy_matrix(embeddings_file, embeddings_member);
    const std::vector<std::int64_t> y = io::read_npy_labels(labels_file, labels_member);
    const auto names = o.class_names_file.empty() ? std::vector<std::string>{} : read_class_names(o.class_names_file);

    io::SplitTarget target{o.encoder, o.dataset, o.split, o.overwrite, o.embeddings, o.labels};
    io::import_split(o.store, target, x.values, x.rows, x.cols, y, o.num_classes, names);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    spdlog::info("imported {} rows x {} into {}:/{}/{}/{} in {:.2f} s", x.rows, x.cols, o.store, o.encoder,
                 o.dataset, o.split, seconds);
  }
  world.barrier();
  return kExitSuccess;
}

}  // namespace

void add_import_command(CLI::App& root, CommandAction& action) {
  auto opts = std::make_shared<ImportOptions>();
  CLI::App* cmd = root.add_subcommand(
      "import",
      "Add one split (embeddings + labels from .npy/.npz) to an HDF5 embedding store.\n"
      "Layout: /ENCODER/DATASET/SPLIT/{embeddings,labels}, num_classes/class_names on /ENCODER/DATASET.\n"
      "An .npz member is named inline (X.npz:member) or with --embeddings-key/--labels-key.\n"
      "Nothing is written unless all input is valid; other entries are never touched.");
  cmd->add_option("--out", opts->store, "Store file (HDF5), created if missing, appended to in place")->required();
  cmd->add_option("--encoder", opts->encoder, "Encoder group name")->required();
  cmd->add_option("--dataset", opts->dataset, "Dataset group name")->required();
  cmd->add_option("--split", opts->split, "Split group name (e.g. train, test; not 'head')")->required();
  cmd->add_option("--embeddings", opts->embeddings, "rows x dim float16/32/64 array: X.npy or X.npz:member")
      ->required();
  cmd->add_option("--labels", opts->labels, "rows integer labels in [0, num_classes): Y.npy or Y.npz:member")
      ->required();
  cmd->add_option("--embeddings-key", opts->embeddings_key, "Member of the --embeddings .npz (alternative to :member)");
  cmd->add_option("--labels-key", opts->labels_key, "Member of the --labels .npz (alternative to :member)");
  cmd->add_option("--class-names", opts->class_names_file, "Text file with one class name per line");
  cmd->add_option("--num-classes", opts->num_classes,
                  "Number of classes (default: the dataset's existing num_classes, else max label + 1)")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--overwrite", opts->overwrite, "Replace the split if it exists (only that split)");
  cmd->callback([opts, &action] { action = [opts](MpiCommunicator& world) { return run_import(*opts, world); }; });
}

}  // namespace taskrel::cli
