// `taskrel import`: adds splits (embeddings + labels from .npy/.npz) to an
// HDF5 embedding store, in place: one from flags, or many from a manifest
// (`--manifest FILE.csv`, io/import_manifest.h). Every entry is read and
// checked before the store is opened for writing -- for a manifest, all of
// them before the first is written -- and each split is written under a
// partial name and renamed into place, so a refused import changes nothing
// and an interrupted one leaves whole splits only. Runs on rank 0; other
// ranks (under mpiexec) wait at a barrier.
#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <memory>

#include "cli/commands.h"
#include "core/error.h"
#include "core/log.h"
#include "core/progress_reporter.h"
#include "io/embedding_store.h"
#include "io/import_manifest.h"

namespace taskrel::cli {
namespace {

struct ImportOptions {
  std::string store;
  std::string manifest;
  std::string encoder, dataset, split;
  std::string embeddings, labels;
  std::string embeddings_key, labels_key;
  std::string class_names_file;
  std::int64_t num_classes = 0;
  bool overwrite = false;
  bool skip_existing = false;
};

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void import_one(const ImportOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  for (const auto* flag : {&o.encoder, &o.dataset, &o.split, &o.embeddings, &o.labels})
    if (flag->empty())
      throw InputError("import needs --encoder, --dataset, --split, --embeddings and --labels (or --manifest FILE.csv)");
  io::ImportEntry entry;
  entry.embeddings = io::array_source(o.embeddings, o.embeddings_key, "--embeddings-key");
  entry.labels = io::array_source(o.labels, o.labels_key, "--labels-key");
  entry.target = io::SplitTarget{o.encoder, o.dataset, o.split, o.overwrite, o.embeddings, o.labels};
  entry.class_names_file = o.class_names_file;
  entry.num_classes = o.num_classes;
  const io::LoadedImport x = io::read_import(entry);
  io::import_split(o.store, entry.target, x.embeddings, x.rows, x.dim, x.labels, entry.num_classes, x.class_names);
  spdlog::info("imported {} rows x {} into {}:/{}/{}/{} in {:.2f} s", x.rows, x.dim, o.store, o.encoder, o.dataset,
               o.split, seconds_since(start));
}

// Entries of one (encoder, dataset) must agree with each other as they will
// with the store once the first is written: plan_import checks each against
// the store as it is, this checks them against each other.
class ManifestAgreement {
 public:
  void check(const io::ImportEntry& entry, const io::LoadedImport& x) {
    const auto& t = entry.target;
    auto [dim, fresh_dim] = dims_.emplace(t.encoder, std::make_pair(x.dim, entry.where));
    if (!fresh_dim && dim->second.first != x.dim)
      throw InputError(fmt::format("{}: dimension {} of {} differs from dimension {} of encoder '{}' on {} (all "
                                   "splits of an encoder share one dimension)",
                                   entry.where, x.dim, t.embeddings_source, dim->second.first, t.encoder,
                                   dim->second.second));
    auto [classes, fresh] = classes_.emplace(std::make_pair(t.encoder, t.dataset), Classes{x.plan.num_classes, x.class_names, entry.where});
    if (fresh) return;
    if (classes->second.num_classes != x.plan.num_classes)
      throw InputError(fmt::format("{}: num_classes {} (its num_classes column, else max label + 1) differs from "
                                   "num_classes {} of /{}/{} on {}; give num_classes in the manifest",
                                   entry.where, x.plan.num_classes, classes->second.num_classes, t.encoder, t.dataset,
                                   classes->second.where));
    if (!x.class_names.empty() && !classes->second.names.empty() && x.class_names != classes->second.names)
      throw InputError(fmt::format("{}: class names differ from those of /{}/{} on {}", entry.where, t.encoder,
                                   t.dataset, classes->second.where));
    if (classes->second.names.empty()) classes->second.names = x.class_names;
  }

 private:
  struct Classes {
    std::int64_t num_classes;
    std::vector<std::string> names;
    std::string where;
  };
  std::map<std::string, std::pair<std::int64_t, std::string>> dims_;
  std::map<std::pair<std::string, std::string>, Classes> classes_;
};

void import_manifest(const ImportOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  auto entries = io::read_import_manifest(o.manifest, o.overwrite);
  std::size_t skipped = 0;
  if (o.skip_existing && std::ifstream(o.store)) {
    const io::EmbeddingStoreReader store(o.store);
    const auto before = entries.size();
    entries.erase(std::remove_if(entries.begin(), entries.end(),
                                 [&](const io::ImportEntry& e) {
                                   return store.has_split(e.target.encoder, e.target.dataset, e.target.split);
                                 }),
                  entries.end());
    skipped = before - entries.size();
  }
  spdlog::info("{}: {} imports{}; checking all before writing any", o.manifest, entries.size(),
               skipped ? fmt::format(" ({} already in {} skipped)", skipped, o.store) : std::string());

  // Pass 1: every entry read and checked; errors are collected, so one run
  // names every bad entry. The arrays are dropped again (memory stays one
  // entry's), and read again to write.
  std::vector<std::string> errors;
  ManifestAgreement agreement;
  std::int64_t total_rows = 0;
  {
    ProgressReporter progress(static_cast<long long>(entries.size()), 0, {"entries checked", 10, 0});
    for (std::size_t i = 0; i < entries.size(); ++i) {
      try {
        const io::LoadedImport x = io::load_import(o.store, entries[i]);
        agreement.check(entries[i], x);
        total_rows += x.rows;
      } catch (const InputError& e) {
        const std::string what = e.what();
        errors.push_back(what.rfind(entries[i].where, 0) == 0 ? what : entries[i].where + ": " + what);
      }
      progress.report(static_cast<long long>(i + 1));
    }
    progress.finish();
  }
  if (!errors.empty()) {
    constexpr std::size_t kShown = 20;
    std::string listing;
    for (std::size_t i = 0; i < std::min(errors.size(), kShown); ++i) listing += "\n  " + errors[i];
    if (errors.size() > kShown) listing += fmt::format("\n  ... and {} more", errors.size() - kShown);
    throw InputError(fmt::format("{}: {} of {} entries cannot be imported; {} was not touched:{}", o.manifest,
                                 errors.size(), entries.size(), o.store, listing));
  }

  // Pass 2: written one by one, each split whole or not at all.
  std::size_t replaced = 0;
  ProgressReporter progress(static_cast<long long>(entries.size()), 0, {"entries written", 10, 0});
  for (std::size_t i = 0; i < entries.size(); ++i) {
    replaced += io::write_import(o.store, entries[i]).replaces ? 1 : 0;
    progress.report(static_cast<long long>(i + 1));
  }
  progress.finish();
  spdlog::info("imported {} splits ({} rows; {} replaced, {} skipped as present) from {} into {} in {:.1f} s",
               entries.size(), total_rows, replaced, skipped, o.manifest, o.store, seconds_since(start));
}

int run_import(const ImportOptions& o, Communicator& world) {
  if (world.rank() == 0) {
    if (o.manifest.empty())
      import_one(o);
    else
      import_manifest(o);
  }
  world.barrier();
  return kExitSuccess;
}

}  // namespace

void add_import_command(CLI::App& root, CommandAction& action) {
  auto opts = std::make_shared<ImportOptions>();
  CLI::App* cmd = root.add_subcommand(
      "import",
      "Add splits (embeddings + labels from .npy/.npz) to an HDF5 embedding store: one from flags, or many\n"
      "from --manifest FILE.csv (columns encoder,dataset,split,embeddings,labels[,class_names][,num_classes];\n"
      "paths relative to the manifest's folder).\n"
      "Layout: /ENCODER/DATASET/SPLIT/{embeddings,labels}, num_classes/class_names on /ENCODER/DATASET.\n"
      "An .npz member is named inline (X.npz:member) or with --embeddings-key/--labels-key.\n"
      "Nothing is written unless all input is valid (every manifest entry is checked first);\n"
      "each split is written whole or not at all; other entries are never touched.");
  cmd->add_option("--out", opts->store, "Store file (HDF5), created if missing, appended to in place")->required();
  auto* manifest = cmd->add_option("--manifest", opts->manifest, "CSV file listing many imports (see above)");
  std::vector<CLI::Option*> single;
  single.push_back(cmd->add_option("--encoder", opts->encoder, "Encoder group name"));
  single.push_back(cmd->add_option("--dataset", opts->dataset, "Dataset group name"));
  single.push_back(cmd->add_option("--split", opts->split, "Split group name (e.g. train, test; not 'head')"));
  single.push_back(
      cmd->add_option("--embeddings", opts->embeddings, "rows x dim float16/32/64 array: X.npy or X.npz:member"));
  single.push_back(
      cmd->add_option("--labels", opts->labels, "rows integer labels in [0, num_classes): Y.npy or Y.npz:member"));
  single.push_back(cmd->add_option("--embeddings-key", opts->embeddings_key,
                                   "Member of the --embeddings .npz (alternative to :member)"));
  single.push_back(
      cmd->add_option("--labels-key", opts->labels_key, "Member of the --labels .npz (alternative to :member)"));
  single.push_back(cmd->add_option("--class-names", opts->class_names_file, "Text file with one class name per line"));
  single.push_back(cmd->add_option("--num-classes", opts->num_classes,
                                   "Number of classes (default: the dataset's existing num_classes, else max label + 1)")
                       ->check(CLI::PositiveNumber));
  for (auto* option : single) manifest->excludes(option);
  auto* overwrite = cmd->add_flag("--overwrite", opts->overwrite, "Replace splits that exist (only those splits)");
  cmd->add_flag("--skip-existing", opts->skip_existing,
                "With --manifest: leave entries whose split exists alone (to resume an interrupted manifest)")
      ->excludes(overwrite)
      ->needs(manifest);
  cmd->callback([opts, &action] { action = [opts](Communicator& world) { return run_import(*opts, world); }; });
}

}  // namespace taskrel::cli
