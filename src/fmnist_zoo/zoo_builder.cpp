// The build stages, the cache and the progress report of the bundled zoo.
#include "fmnist_zoo/zoo_builder.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "fmnist_zoo/cnn_encoder.h"
#include "fmnist_zoo/fashion_tasks.h"
#include "fmnist_zoo/zoo_presets.h"
#include "core/error.h"
#include "core/progress_reporter.h"
#include "io/append_log.h"
#include "io/atomic_file.h"
#include "io/embedding_store.h"
#include "io/idx.h"

namespace taskrel::fmnist_zoo {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// What earlier runs finished, read from the journal. A last line without its
// newline is a write that was cut off: it is ignored (and redone).
struct Journal {
  std::map<std::string, double> trained;           // encoder -> source accuracy
  std::set<std::string> embedded;                  // encoders
  std::map<std::pair<std::string, std::string>, double> finetuned;  // (encoder, target) -> accuracy

  static Journal read(const fs::path& path) {
    Journal journal;
    for (const std::string& line : io::read_log_lines(path.string()).lines) {
      std::istringstream words(line);
      std::string kind, encoder, target;
      double value = 0;
      words >> kind;
      if (kind == "trained" && (words >> encoder >> value)) journal.trained[encoder] = value;
      else if (kind == "embedded" && (words >> encoder)) journal.embedded.insert(encoder);
      else if (kind == "finetuned" && (words >> encoder >> target >> value)) journal.finetuned[{encoder, target}] = value;
      else throw InputError(fmt::format("{}: unreadable journal line '{}'; rerun with --force", path.string(), line));
    }
    return journal;
  }
};

struct TaskSplits {
  ImageSplit train, test;
};

nlohmann::json recipe_of(const ZooPreset& preset);

nlohmann::json describe(const ZooPreset& preset, const ZooBuildOptions& options, const Journal& journal) {
  nlohmann::json tasks = nlohmann::json::array();
  std::vector<std::string> names = {preset.reference};
  names.insert(names.end(), preset.targets.begin(), preset.targets.end());
  for (const auto& name : names) {
    const TaskDefinition& task = fashion_task(name);
    tasks.push_back({{"name", task.name},
                     {"role", name == preset.reference ? "reference" : "target"},
                     {"description", task.description},
                     {"num_classes", task.num_classes()},
                     {"class_names", task.class_names},
                     {"transform", transform_name(task.transform)},
                     {"train_images", preset.train_images},
                     {"test_images", preset.test_images}});
  }
  nlohmann::json encoders = nlohmann::json::array();
  for (const auto& e : preset.encoders) {
    nlohmann::json entry = {{"name", e.name},
                            {"description", e.description},
                            {"source_task", e.untrained() ? "none" : e.source_task},
                            {"width", e.width},
                            {"source_images", e.source_images},
                            {"epochs", e.training.epochs},
                            {"batch_size", e.training.batch_size},
                            {"learning_rate", e.training.learning_rate},
                            {"architecture", enum_name(e.architecture)},
                            {"embedding_dim", preset.embedding_dim}};
    const auto found = journal.trained.find(e.name);
    entry["source_accuracy"] = found == journal.trained.end() || e.untrained() ? nlohmann::json(nullptr)
                                                                                 : nlohmann::json(found->second);
    encoders.push_back(entry);
  }
  return {{"preset", preset.name},
          {"seed", options.seed},
          {"recipe", recipe_of(preset)},
          {"data", options.data_dir},
          {"reference", preset.reference},
          {"tasks", tasks},
          {"encoders", encoders},
          {"finetune",
           {{"epochs", preset.finetune.epochs},
            {"batch_size", preset.finetune.batch_size},
            {"learning_rate", preset.finetune.learning_rate},
            {"encoder_learning_rate", preset.finetune.encoder_learning_rate},
            {"repeats", preset.finetune_repeats},
            {"optimizer", "adam"},
            {"what", "a copy of the encoder plus a new linear head, trained together; accuracy on the test split"}}}};
}

// What determines the zoo's contents besides the seed: the tasks, the
// encoder recipes and the fine-tuning budget (zoo.json without the results).
nlohmann::json recipe_of(const ZooPreset& preset) {
  nlohmann::json encoders = nlohmann::json::array();
  for (const auto& e : preset.encoders) {
    nlohmann::json entry = {e.name, e.untrained() ? "none" : e.source_task, e.width, e.source_images, e.training.epochs,
                            e.training.batch_size, e.training.learning_rate};
    // The original CNN's entries read as they always did, so its caches stay valid.
    if (e.architecture != Architecture::kCnn || preset.embedding_dim != kEmbeddingDim)
      entry.push_back({{"architecture", enum_name(e.architecture)}, {"embedding_dim", preset.embedding_dim}});
    encoders.push_back(entry);
  }
  return {{"reference", preset.reference},
          {"targets", preset.targets},
          {"train_images", preset.train_images},
          {"test_images", preset.test_images},
          {"encoders", encoders},
          {"finetune",
           {preset.finetune.epochs, preset.finetune.batch_size, preset.finetune.learning_rate,
            preset.finetune.encoder_learning_rate, preset.finetune_repeats}}};
}

// Refuses a directory built with another preset or seed (or holding files of
// unknown origin) unless --force, which removes only what build-zoo writes.
void claim_directory(const fs::path& dir, const ZooBuildOptions& options, const nlohmann::json& recipe) {
  const fs::path zoo_json = dir / "zoo.json";
  const std::vector<fs::path> ours = {zoo_json, dir / "store.h5", dir / "journal.txt", dir / "finetune.csv",
                                      dir / "encoders"};
  if (options.force) {
    for (const auto& path : ours) fs::remove_all(path);
    return;
  }
  if (fs::exists(zoo_json)) {
    nlohmann::json existing;
    try {
      std::ifstream in(zoo_json);
      existing = nlohmann::json::parse(in);
      const std::string preset = existing.at("preset").get<std::string>();
      const std::uint64_t seed = existing.at("seed").get<std::uint64_t>();
      if (preset != options.preset || seed != options.seed)
        throw InputError(fmt::format(
            "{} holds a zoo built with preset '{}' and seed {}, not preset '{}' and seed {}; use --force to "
            "rebuild it or another --out",
            dir.string(), preset, seed, options.preset, options.seed));
      // The same preset name from another taskrel version may mean other
      // encoders or another fine-tuning budget: cached results would mix.
      if (!existing.contains("recipe") || existing.at("recipe") != recipe)
        throw InputError(fmt::format(
            "{} holds a '{}' zoo built to another recipe (encoders, tasks or fine-tuning budget; another taskrel "
            "version?); use --force to rebuild it or another --out",
            dir.string(), preset));
    } catch (const nlohmann::json::exception& error) {
      throw InputError(fmt::format("{}: unreadable ({}); use --force to rebuild the zoo", zoo_json.string(),
                                   error.what()));
    }
    return;
  }
  for (const auto& path : ours)
    if (fs::exists(path))
      throw InputError(fmt::format("{} exists but {} does not, so its origin is unknown; use --force to rebuild "
                                   "the zoo or another --out",
                                   path.string(), zoo_json.string()));
}

io::IdxImageSet read_fashion_split(const fs::path& data, const std::string& prefix) {
  const fs::path images = data / (prefix + "-images-idx3-ubyte.gz");
  const fs::path labels = data / (prefix + "-labels-idx1-ubyte.gz");
  if (!fs::exists(images) || !fs::exists(labels))
    throw InputError(fmt::format("Fashion-MNIST not found: {} or {} is missing (install the Debian package "
                                 "dataset-fashion-mnist or pass --data DIR)",
                                 images.string(), labels.string()));
  io::IdxImageSet set = io::read_idx_image_set(images.string(), labels.string());
  if (set.rows != kImageSide || set.cols != kImageSide)
    throw InputError(fmt::format("{}: images are {}x{}, Fashion-MNIST's are 28x28", images.string(), set.rows,
                                 set.cols));
  return set;
}

std::string finetune_csv(const ZooPreset& preset, const Journal& journal) {
  std::string csv = "encoder,target,accuracy\n";
  for (const auto& e : preset.encoders)
    for (const auto& t : preset.targets) csv += fmt::format("{},{},{:.6f}\n", e.name, t, journal.finetuned.at({e.name, t}));
  return csv;
}

}  // namespace

ZooBuildReport build_zoo(const ZooBuildOptions& options) {
  const ZooPreset preset = zoo_preset(options.preset);
  const fs::path dir = options.out_dir;
  fs::create_directories(dir);
  claim_directory(dir, options, recipe_of(preset));
  fs::create_directories(dir / "encoders");
  const fs::path journal_path = dir / "journal.txt";
  const fs::path store_path = dir / "store.h5";
  const fs::path csv_path = dir / "finetune.csv";

  Journal journal = Journal::read(journal_path);
  const int encoders = static_cast<int>(preset.encoders.size());
  const int targets = static_cast<int>(preset.targets.size());
  ZooBuildReport report;
  report.units_total = 2 * encoders + encoders * targets;
  int done = 0;
  for (const auto& e : preset.encoders) {
    done += journal.trained.count(e.name) && fs::exists(dir / "encoders" / (e.name + ".pt"));
    done += journal.embedded.count(e.name);
    for (const auto& t : preset.targets) done += journal.finetuned.count({e.name, t});
  }
  if (done == report.units_total && fs::exists(csv_path) && fs::exists(store_path)) {
    spdlog::info("zoo in {} (preset {}, seed {}) is complete and cached: nothing to do", dir.string(), preset.name,
                 options.seed);
    report.already_complete = true;
    return report;
  }
  io::write_file_atomically((dir / "zoo.json").string(), describe(preset, options, journal).dump(2) + "\n");
  spdlog::info("building the {} zoo in {}: {} encoders x {} targets, {} of {} units cached", preset.name,
               dir.string(), encoders, targets, done, report.units_total);

  set_torch_threads(options.threads);
  const fs::path data = options.data_dir;
  const io::IdxImageSet train_set = read_fashion_split(data, "train");
  const io::IdxImageSet test_set = read_fashion_split(data, "t10k");
  std::map<std::string, TaskSplits> splits;
  std::vector<std::string> task_names = {preset.reference};
  task_names.insert(task_names.end(), preset.targets.begin(), preset.targets.end());
  for (const auto& name : task_names) {
    const TaskDefinition& task = fashion_task(name);
    splits[name] = {make_split(train_set, task, preset.train_images, options.seed, "train"),
                    make_split(test_set, task, preset.test_images, options.seed, "test")};
  }

  ProgressReporter progress(report.units_total - done, done, {"units", 0, 0});
  io::AppendLog journal_log(journal_path.string());
  int units_now = 0;  // computed by this run
  auto finished = [&](const std::string& what) { progress.report(++units_now, what); };
  for (const auto& recipe : preset.encoders) {
    const fs::path weights = dir / "encoders" / (recipe.name + ".pt");
    const std::uint64_t encoder_seed = derive_seed(options.seed, "encoder/" + recipe.name);
    std::optional<CnnEncoder> encoder;
    if (journal.trained.count(recipe.name) && fs::exists(weights)) {
      encoder.emplace(CnnEncoder::load(weights.string(), recipe.width, recipe.architecture, preset.embedding_dim));
    } else {
      encoder.emplace(recipe.width, encoder_seed, recipe.architecture, preset.embedding_dim);
      double source_accuracy = 0;
      if (!recipe.untrained()) {
        const TaskDefinition& source = fashion_task(recipe.source_task);
        const ImageSplit source_train = make_split(train_set, source, recipe.source_images, options.seed, "source");
        const ImageSplit source_test = make_split(test_set, source, preset.test_images, options.seed, "test");
        source_accuracy = encoder->train_on_source(
            source_train, source_test, source.num_classes(), recipe.training, encoder_seed,
            [&](std::int64_t step, std::int64_t steps) { progress.step("training " + recipe.name, step, steps); });
      }
      encoder->save(weights.string());
      journal_log.append(fmt::format("trained {} {:.6f}", recipe.name, source_accuracy));
      journal.trained[recipe.name] = source_accuracy;
      finished(recipe.untrained()
                            ? fmt::format("initialised {} (untrained {}, width {})", recipe.name,
                                          enum_name(recipe.architecture), recipe.width)
                            : fmt::format("trained {} ({}) on {} (width {}): source accuracy {:.3f}", recipe.name,
                                          enum_name(recipe.architecture), recipe.source_task, recipe.width,
                                          source_accuracy));
    }

    if (!journal.embedded.count(recipe.name)) {
      // overwrite: a run killed in the middle of this encoder left some of
      // its splits behind; they are replaced, never appended to.
      for (const auto& name : task_names) {
        const TaskDefinition& task = fashion_task(name);
        for (const auto& [split_name, split] : {std::pair{"train", &splits[name].train}, {"test", &splits[name].test}}) {
          io::SplitTarget target{recipe.name, name, split_name, true, "encoder " + recipe.name, "task labels"};
          io::import_split(store_path.string(), target, encoder->embed(*split), split->count, preset.embedding_dim,
                           split->labels, task.num_classes(), task.class_names);
        }
      }
      journal_log.append(fmt::format("embedded {}", recipe.name));
      journal.embedded.insert(recipe.name);
      finished(fmt::format("embedded {} tasks with {}", task_names.size(), recipe.name));
    }

    for (const auto& target_name : preset.targets) {
      if (journal.finetuned.count({recipe.name, target_name})) continue;
      const TaskDefinition& task = fashion_task(target_name);
      // The same seed for every encoder on a target: identical head
      // initialisation and batch order, so only the encoder differs.
      double accuracy = 0;
      for (int repeat = 0; repeat < preset.finetune_repeats; ++repeat)
        accuracy += encoder->finetune_accuracy(
            splits[target_name].train, splits[target_name].test, task.num_classes(), preset.finetune,
            derive_seed(options.seed, repeat == 0 ? "finetune/" + target_name
                                                  : fmt::format("finetune/{}/{}", target_name, repeat)));
      accuracy /= preset.finetune_repeats;
      journal_log.append(fmt::format("finetuned {} {} {:.6f}", recipe.name, target_name, accuracy));
      journal.finetuned[{recipe.name, target_name}] = accuracy;
      finished(fmt::format("fine-tuned {} on {}: accuracy {:.3f}", recipe.name, target_name, accuracy));
    }
  }

  io::write_file_atomically(csv_path.string(), finetune_csv(preset, journal));
  io::write_file_atomically((dir / "zoo.json").string(), describe(preset, options, journal).dump(2) + "\n");
  report.units_done = units_now;
  report.seconds = progress.elapsed();
  spdlog::info("zoo built in {}: {} ({} units computed), {} and {}", duration_text(report.seconds), dir.string(),
               report.units_done, store_path.string(), csv_path.string());
  return report;
}

}  // namespace taskrel::fmnist_zoo
