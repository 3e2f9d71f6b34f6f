#include "io/import_manifest.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <tuple>

#include <fmt/format.h>

#include "core/csv_table.h"
#include "core/error.h"
#include "io/npy.h"

namespace taskrel::io {
namespace {

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Relative to the manifest's folder; absolute paths and "-" stay as they are.
std::string resolve(const std::filesystem::path& base, const std::string& path) {
  if (path.empty() || std::filesystem::path(path).is_absolute()) return path;
  return (base / path).lexically_normal().string();
}

const std::set<std::string> kRequired = {"encoder", "dataset", "split", "embeddings", "labels"};
const std::set<std::string> kOptional = {"class_names", "num_classes"};

}  // namespace

ArraySource array_source(const std::string& spec, const std::string& key, const char* key_flag) {
  auto [file, member] = split_npz_spec(spec);
  if (!key.empty()) {
    if (!member.empty()) throw InputError(fmt::format("{} names an npz member both inline and with {}", spec, key_flag));
    member = key;
  }
  if (ends_with(file, ".npz") && member.empty())
    throw InputError(fmt::format("{}: an .npz needs a member: FILE.npz:NAME{}", file,
                                 *key_flag ? fmt::format(" or {} NAME", key_flag) : std::string()));
  return {file, member};
}

std::vector<std::string> read_class_names_file(const std::string& path) {
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

std::vector<ImportEntry> read_import_manifest(const std::string& path, bool overwrite) {
  const CsvTable table = read_csv(path);
  for (const auto& name : table.header) {
    if (!kRequired.count(name) && !kOptional.count(name))
      throw InputError(fmt::format("{}: unknown column '{}' (columns: encoder, dataset, split, embeddings, labels, "
                                   "and optionally class_names, num_classes)",
                                   path, name));
  }
  for (const auto& name : kRequired) table.column(name);  // the error names a missing one
  if (table.rows.empty()) throw InputError(fmt::format("{}: the manifest lists no imports", path));

  const auto base = std::filesystem::path(path).parent_path();
  auto cell = [&](std::size_t row, const std::string& name) -> std::string {
    const auto column = table.find_column(name);
    return column ? table.rows[row][*column] : std::string();
  };
  std::vector<ImportEntry> entries;
  std::map<std::tuple<std::string, std::string, std::string>, std::size_t> first_line;
  for (std::size_t row = 0; row < table.rows.size(); ++row) {
    const std::size_t line = table.row_lines[row];
    ImportEntry entry;
    entry.where = fmt::format("{} line {}", path, line);
    auto fail = [&](const std::string& what) -> void { throw InputError(fmt::format("{}: {}", entry.where, what)); };
    for (const auto& name : kRequired)
      if (cell(row, name).empty()) fail(fmt::format("column '{}' is empty", name));
    try {
      entry.embeddings = array_source(resolve(base, cell(row, "embeddings")));
      entry.labels = array_source(resolve(base, cell(row, "labels")));
    } catch (const InputError& e) {
      fail(e.what());
    }
    entry.target = SplitTarget{cell(row, "encoder"), cell(row, "dataset"), cell(row, "split"), overwrite,
                               entry.embeddings.spec(), entry.labels.spec()};
    entry.class_names_file = resolve(base, cell(row, "class_names"));
    if (const std::string text = cell(row, "num_classes"); !text.empty()) {
      std::size_t used = 0;
      long long value = 0;
      try {
        value = std::stoll(text, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != text.size() || value <= 0) fail(fmt::format("num_classes '{}' is not a positive integer", text));
      entry.num_classes = value;
    }
    const auto key = std::make_tuple(entry.target.encoder, entry.target.dataset, entry.target.split);
    if (auto [it, fresh] = first_line.emplace(key, line); !fresh)
      fail(fmt::format("/{}/{}/{} is listed twice (also on line {})", entry.target.encoder, entry.target.dataset,
                       entry.target.split, it->second));
    entries.push_back(std::move(entry));
  }
  return entries;
}

LoadedImport read_import(const ImportEntry& entry) {
  LoadedImport loaded;
  FloatMatrix x = read_npy_matrix(entry.embeddings.file, entry.embeddings.member);
  loaded.rows = x.rows;
  loaded.dim = x.cols;
  loaded.embeddings = std::move(x.values);
  loaded.labels = read_npy_labels(entry.labels.file, entry.labels.member);
  if (!entry.class_names_file.empty()) loaded.class_names = read_class_names_file(entry.class_names_file);
  return loaded;
}

LoadedImport load_import(const std::string& store_path, const ImportEntry& entry) {
  LoadedImport loaded = read_import(entry);
  loaded.plan = plan_import(store_path, entry.target, loaded.embeddings, loaded.rows, loaded.dim, loaded.labels,
                            entry.num_classes, loaded.class_names);
  return loaded;
}

ImportPlan write_import(const std::string& store_path, const ImportEntry& entry) {
  const LoadedImport x = read_import(entry);
  return import_split(store_path, entry.target, x.embeddings, x.rows, x.dim, x.labels, entry.num_classes,
                      x.class_names);
}

}  // namespace taskrel::io
