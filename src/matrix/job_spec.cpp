#include "matrix/job_spec.h"

#include <algorithm>
#include <filesystem>
#include <functional>
#include <map>
#include <set>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "core/error.h"
#include "io/embedding_store.h"
#include "io/head_reader.h"
#include "io/whole_file.h"

namespace taskrel::matrix {

namespace fs = std::filesystem;

namespace {

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

// Reads typed values out of one TOML table, remembering which keys were
// used so the rest can be reported as unknown (typos).
class TableReader {
 public:
  TableReader(const toml::table& table, std::string prefix, std::string file, std::vector<std::string>& problems)
      : table_(table), prefix_(std::move(prefix)), file_(std::move(file)), problems_(problems) {}

  // One entry of an option table (core/option_table.h): its TOML type, its
  // range (an out-of-range value is reported and not stored), and enum or
  // codec values from their text (a list of strings where the codec takes one).
  template <typename T>
  void option(const options::Option<T>& entry) {
    const std::string key = entry.key;
    const toml::node* node = take(key);
    if (node == nullptr) return;
    if constexpr (std::is_same_v<T, bool>) {
      boolean(key, entry.value);
    } else if constexpr (options::is_number_v<T>) {
      double value = 0;
      if constexpr (std::is_integral_v<T>) {
        if (!node->is_integer()) return problem(key, "must be an integer");
        value = static_cast<double>(*node->value<std::int64_t>());
      } else {
        if (node->is_integer()) value = static_cast<double>(*node->value<std::int64_t>());
        else if (node->is_floating_point()) value = *node->value<double>();
        else return problem(key, "must be a number");
      }
      if (!entry.range.contains(value)) return problem(key, fmt::format("{} (got {})", entry.range.requirement(), value));
      entry.value = static_cast<T>(value);
    } else {
      constexpr bool lists = [] {
        if constexpr (std::is_enum_v<T>) return false;
        else return options::OptionCodec<T>::accepts_list;
      }();
      constexpr bool numbers = [] {
        if constexpr (std::is_enum_v<T>) return false;
        else return options::OptionCodec<T>::accepts_number;
      }();
      // A string, or (where the value type takes them) a number or an array of those.
      auto text_of = [](const toml::node& item, std::string& out) {
        if (item.is_string()) out = *item.value<std::string>();
        else if (numbers && item.is_integer()) out = std::to_string(*item.value<std::int64_t>());
        else if (numbers && item.is_floating_point()) out = fmt::format("{}", *item.value<double>());
        else return false;
        return true;
      };
      std::string text;
      bool well_typed = text_of(*node, text);
      if (const toml::array* array = node->as_array(); lists && array != nullptr) {
        well_typed = !array->empty();
        for (const auto& item : *array) {
          std::string part;
          if (!text_of(item, part)) well_typed = false;
          else text += (text.empty() ? "" : ",") + part;
        }
      }
      if (!well_typed) {
        const char* kind = numbers ? (lists ? "a number, a string or a non-empty array of them" : "a number or a string")
                                   : (lists ? "a string or a non-empty array of strings" : "a string");
        return problem(key, fmt::format("must be {}", kind));
      }
      try {
        entry.value = options::parse_value<T>(text);
      } catch (const InputError& error) {
        problem(key, fmt::format("in {}: {}", prefix_.empty() ? "the top level" : "[" + prefix_ + "]", error.what()));
      }
    }
  }

  std::string where(const std::string& key) const {
    const toml::node* node = table_.get(key);
    const std::string name = prefix_.empty() ? key : prefix_ + "." + key;
    if (node != nullptr && node->source().begin.line > 0)
      return fmt::format("{}:{}: key '{}'", file_, node->source().begin.line, name);
    return fmt::format("{}: key '{}'", file_, name);
  }
  void problem(const std::string& key, const std::string& what) { problems_.push_back(where(key) + " " + what); }

  const toml::node* take(const std::string& key) {
    known_.insert(key);
    return table_.get(key);
  }

  void string(const std::string& key, std::string& out, bool required = false) {
    const toml::node* node = take(key);
    if (node == nullptr) {
      if (required) problems_.push_back(fmt::format("{}: missing key '{}'", file_, prefix_.empty() ? key : prefix_ + "." + key));
      return;
    }
    if (auto value = node->value<std::string>(); node->is_string()) out = *value;
    else problem(key, "must be a string");
  }
  void boolean(const std::string& key, bool& out) {
    const toml::node* node = take(key);
    if (node == nullptr) return;
    if (node->is_boolean()) out = *node->value<bool>();
    else problem(key, "must be true or false");
  }
  // "all" or an array of strings; nullopt list means "all".
  void name_list(const std::string& key, bool& all, std::vector<std::string>& out) {
    const toml::node* node = take(key);
    if (node == nullptr) return;
    if (node->is_string()) {
      if (*node->value<std::string>() == "all") {
        all = true;
        return;
      }
      return problem(key, "must be \"all\" or an array of names");
    }
    const toml::array* array = node->as_array();
    if (array == nullptr) return problem(key, "must be \"all\" or an array of names");
    all = false;
    std::set<std::string> seen;
    for (const auto& item : *array) {
      if (!item.is_string()) return problem(key, "must be \"all\" or an array of names (strings)");
      std::string name = *item.value<std::string>();
      if (!seen.insert(name).second) problem(key, fmt::format("lists '{}' twice", name));
      out.push_back(std::move(name));
    }
    if (out.empty()) problem(key, "is an empty list");
  }

  void report_unknown() {
    for (const auto& [key, node] : table_) {
      const std::string name(key.str());
      if (known_.count(name) != 0) continue;
      std::string hint;
      std::size_t best = 3;
      for (const auto& candidate : known_) {
        const std::size_t d = edit_distance(name, candidate);
        if (d < best) {
          best = d;
          hint = fmt::format(" (did you mean '{}'?)", candidate);
        }
      }
      const std::string full = prefix_.empty() ? name : prefix_ + "." + name;
      problems_.push_back(fmt::format("{}:{}: unknown key '{}'{}", file_, node.source().begin.line, full, hint));
    }
  }

 private:
  const toml::table& table_;
  std::string prefix_, file_;
  std::vector<std::string>& problems_;
  std::set<std::string> known_;
};

std::string resolve(const fs::path& base, const std::string& path) {
  fs::path p(path);
  if (p.is_relative()) p = base / p;
  return p.lexically_normal().string();
}

std::string join(const std::vector<std::string>& names) { return fmt::format("{}", fmt::join(names, ", ")); }

}  // namespace

nlohmann::json JobSpec::result_options() const { return pipeline::result_options_json(options); }

std::string JobSpec::result_hash() const {
  // FNV-1a 64 of the canonical JSON (nlohmann orders keys).
  const std::string text = result_options().dump();
  std::uint64_t hash = 1469598103934665603ull;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return fmt::format("{:016x}", hash);
}

const std::string& JobSpec::file_of(int encoder, const std::string& dataset) const {
  const auto it = std::find(datasets.begin(), datasets.end(), dataset);
  TASKREL_ASSERT(it != datasets.end(), "dataset {} not in the job", dataset);
  return task_file[encoder][it - datasets.begin()];
}

std::string JobSpec::key(const Triple& t) const {
  return encoders[t.encoder] + "/" + references[t.reference] + "/" + targets[t.target];
}

JobSpec parse_job_spec(const std::string& path, const JobOverrides& overrides) {
  JobSpec spec;
  spec.job_file = path;
  // A job's relative paths are resolved against its file's directory, which
  // a pipe (`<(cat job.toml)`) does not have: refused rather than guessed.
  if (io::is_stream_file(path))
    throw InputError(fmt::format("{} is not a regular file (a pipe, socket or device); a job spec must be a file, "
                                 "its relative paths are read from its directory", path));
  if (!fs::is_regular_file(path)) throw InputError(fmt::format("{}: no such job file", path));
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& error) {
    throw InputError(fmt::format("{}:{}:{}: not valid TOML: {}", path, error.source().begin.line,
                                 error.source().begin.column, error.description()));
  }
  const fs::path base = fs::absolute(fs::path(path)).parent_path();
  std::vector<std::string> problems;

  // ---- keys ------------------------------------------------------------------
  TableReader top(root, "", path, problems);
  std::string store, output;
  bool all_encoders = true, all_references = true, all_targets = true;
  std::vector<std::string> encoders, references, targets;
  top.string("name", spec.name);
  top.string("store", store, overrides.store.empty());
  top.string("output", output, overrides.output.empty());
  top.name_list("encoders", all_encoders, encoders);
  top.name_list("references", all_references, references);
  top.name_list("targets", all_targets, targets);
  visit_job_options(spec, [&](const auto& entry) { top.option(entry); });

  pipeline::TripleOptions& o = spec.options;
  o.relate.log_every = 0;  // per-epoch lines of many triples would drown the batch log
  const toml::node* relate_node = top.take("relate");
  if (relate_node != nullptr && !relate_node->is_table()) top.problem("relate", "must be a table ([relate])");
  static const toml::table kEmpty;
  const toml::table& relate_table = relate_node != nullptr && relate_node->is_table() ? *relate_node->as_table() : kEmpty;
  TableReader rel(relate_table, "relate", path, problems);
  // The triple's options: seed, device and threads at the top level, the rest in [relate].
  pipeline::visit_triple_options(o, [&](const auto& entry) {
    (entry.section == options::Section::kTop ? top : rel).option(entry);
  });
  // Both are result options: a journal written on one device or precision
  // is refused on another (--restart starts over).
  if (overrides.device) o.device = overrides.device;
  if (overrides.precision) o.precision = overrides.precision;
  top.report_unknown();
  rel.report_unknown();
  pipeline::validate_triple_options(o, [&](const char* key, options::Section section, const std::string& problem) {
    (section == options::Section::kTop ? top : rel).problem(key, problem);
  });
  spec.output = overrides.output.empty() ? resolve(base, output) : fs::path(overrides.output).lexically_normal().string();
  if (!overrides.store.empty()) store = fs::absolute(overrides.store).lexically_normal().string();
  if (store.empty()) throw InputError(fmt::format("problems in the job spec:\n  {}", fmt::join(problems, "\n  ")));

  // ---- the store -------------------------------------------------------------
  spec.store = resolve(base, store);
  if (fs::is_directory(spec.store)) {
    for (const auto& entry : fs::directory_iterator(spec.store)) {
      const std::string ext = entry.path().extension().string();
      if (entry.is_regular_file() && (ext == ".h5" || ext == ".hdf5")) spec.store_files.push_back(entry.path().string());
    }
    std::sort(spec.store_files.begin(), spec.store_files.end());
    if (spec.store_files.empty()) problems.push_back(fmt::format("{}: key 'store': {} holds no .h5 files", path, spec.store));
  } else if (fs::is_regular_file(spec.store)) {
    spec.store_files.push_back(spec.store);
  } else {
    problems.push_back(fmt::format("{}: key 'store': {} does not exist", path, spec.store));
  }

  // (encoder, dataset) -> file and the metadata of its splits.
  std::map<std::string, std::map<std::string, std::string>> where;
  std::vector<io::EmbeddingStoreReader> readers;
  std::map<std::string, const io::EmbeddingStoreReader*> reader_of;
  for (const auto& file : spec.store_files) {
    try {
      readers.emplace_back(file);
    } catch (const InputError& error) {
      problems.push_back(error.what());
    }
  }
  for (const auto& reader : readers) {
    reader_of[reader.path()] = &reader;
    for (const auto& encoder : reader.encoders())
      for (const auto& dataset : reader.datasets(encoder)) {
        auto [it, fresh] = where[encoder].emplace(dataset, reader.path());
        if (!fresh)
          problems.push_back(fmt::format("store {}: /{}/{} is in both {} and {}", spec.store, encoder, dataset,
                                         it->second, reader.path()));
      }
  }
  if (!problems.empty()) throw InputError(fmt::format("problems in the job spec:\n  {}", fmt::join(problems, "\n  ")));

  std::vector<std::string> store_encoders;
  for (const auto& [encoder, unused] : where) store_encoders.push_back(encoder);
  if (all_encoders) {
    spec.encoders = store_encoders;
  } else {
    for (const auto& e : encoders) {
      if (where.count(e) == 0) top.problem("encoders", fmt::format("names '{}', not in {} (it has: {})", e, spec.store, join(store_encoders)));
      else spec.encoders.push_back(e);
    }
  }
  if (!overrides.encoders.empty()) {
    std::vector<std::string> kept;
    for (const auto& e : overrides.encoders) {
      if (std::find(spec.encoders.begin(), spec.encoders.end(), e) == spec.encoders.end())
        problems.push_back(fmt::format("--encoder {}: not among the job's encoders ({})", e, join(spec.encoders)));
      else kept.push_back(e);
    }
    spec.encoders = kept;
  }
  if (spec.encoders.empty() && problems.empty()) problems.push_back(fmt::format("{}: no encoders selected", path));

  // Datasets: "all" is those every selected encoder has; a listed one must exist for every encoder.
  auto select = [&](bool all, const std::vector<std::string>& listed, const char* key) {
    std::vector<std::string> out;
    if (all) {
      if (spec.encoders.empty()) return out;
      for (const auto& [dataset, unused] : where[spec.encoders.front()]) {
        bool everywhere = true;
        for (const auto& e : spec.encoders) everywhere = everywhere && where[e].count(dataset) != 0;
        if (everywhere) out.push_back(dataset);
      }
      return out;
    }
    for (const auto& d : listed) {
      bool ok = true;
      for (const auto& e : spec.encoders)
        if (where[e].count(d) == 0) {
          std::vector<std::string> has;
          for (const auto& [name, unused] : where[e]) has.push_back(name);
          top.problem(key, fmt::format("names '{}', but {} has no /{}/{} (encoder {} has: {})", d, spec.store, e, d, e, join(has)));
          ok = false;
        }
      if (ok) out.push_back(d);
    }
    return out;
  };
  spec.references = select(all_references, references, "references");
  spec.targets = select(all_targets, targets, "targets");
  for (const auto& list : {spec.references, spec.targets})
    for (const auto& d : list)
      if (std::find(spec.datasets.begin(), spec.datasets.end(), d) == spec.datasets.end()) spec.datasets.push_back(d);

  // Splits, classes and dimensions of every task used; stored heads.
  spec.task_file.assign(spec.encoders.size(), std::vector<std::string>(spec.datasets.size()));
  std::map<std::pair<int, std::string>, std::pair<std::int64_t, std::int64_t>> rows;  // train, reported
  for (std::size_t e = 0; e < spec.encoders.size(); ++e) {
    const std::string& encoder = spec.encoders[e];
    std::int64_t dim = -1;
    std::string dim_path;
    for (std::size_t d = 0; d < spec.datasets.size(); ++d) {
      const std::string& dataset = spec.datasets[d];
      const std::string& file = where[encoder][dataset];
      spec.task_file[e][d] = file;
      const io::EmbeddingStoreReader& reader = *reader_of[file];
      if (!reader.has_split(encoder, dataset, "train")) {
        problems.push_back(fmt::format("{}: /{}/{}/train is missing (the fit needs a train split; the job uses this task)",
                                       file, encoder, dataset));
        continue;
      }
      const io::SplitInfo train = reader.split_metadata(encoder, dataset, "train");
      std::int64_t reported = train.rows;
      if (reader.has_split(encoder, dataset, "test")) reported = reader.split_metadata(encoder, dataset, "test").rows;
      rows[{static_cast<int>(e), dataset}] = {train.rows, reported};
      if (dim < 0) {
        dim = train.dim;
        dim_path = fmt::format("{}:/{}/{}", file, encoder, dataset);
      } else if (train.dim != dim) {
        problems.push_back(fmt::format("dimension mismatch for encoder {}: {}:/{}/{} has d = {} but {} has d = {}", encoder,
                                       file, encoder, dataset, train.dim, dim_path, dim));
      }
      if (train.rows < train.num_classes)
        problems.push_back(fmt::format("{}: /{}/{}/train has {} rows for {} classes (needs at least one row per class)",
                                       file, encoder, dataset, train.rows, train.num_classes));
    }
    if (!o.train_head)
      for (const auto& reference : spec.references) {
        const std::string& file = where[encoder][reference];
        try {
          const auto head = io::read_stored_head(file, encoder, reference);
          const auto attributes = reader_of[file]->dataset_attributes(encoder, reference);
          if (head && attributes && (head->classes != attributes->num_classes || head->dim != dim))
            problems.push_back(fmt::format("{}: /{}/{}/head is {} x {}, expected {} x {} (classes x d)", file, encoder,
                                           reference, head->classes, head->dim, attributes->num_classes, dim));
        } catch (const InputError& error) {
          problems.push_back(error.what());
        }
      }
  }

  // ---- the triples -------------------------------------------------------------
  for (std::size_t e = 0; e < spec.encoders.size(); ++e)
    for (std::size_t ri = 0; ri < spec.references.size(); ++ri)
      for (std::size_t ti = 0; ti < spec.targets.size(); ++ti) {
        if (!spec.self_pairs && spec.references[ri] == spec.targets[ti]) continue;
        Triple t;
        t.encoder = static_cast<int>(e);
        t.reference = static_cast<int>(ri);
        t.target = static_cast<int>(ti);
        const auto ref_rows = rows[{t.encoder, spec.references[ri]}];
        const auto target_rows = rows[{t.encoder, spec.targets[ti]}];
        t.cost = static_cast<double>(ref_rows.first) * static_cast<double>(target_rows.first) * o.target_fraction +
                 static_cast<double>(ref_rows.second) * static_cast<double>(target_rows.second);
        spec.triples.push_back(t);
      }
  if (spec.triples.empty() && problems.empty())
    problems.push_back(fmt::format("{}: the job has no triples (encoders: {}; references: {}; targets: {}; self_pairs = {})",
                                   path, join(spec.encoders), join(spec.references), join(spec.targets), spec.self_pairs));
  if (!problems.empty()) throw InputError(fmt::format("problems in the job spec:\n  {}", fmt::join(problems, "\n  ")));
  if (spec.name.empty()) spec.name = fs::path(path).stem().string();
  return spec;
}

}  // namespace taskrel::matrix
