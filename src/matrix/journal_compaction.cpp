// See journal_compaction.h.
#include "matrix/journal_compaction.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include <fmt/format.h>

#include "core/error.h"
#include "io/atomic_file.h"
#include "matrix/journal.h"

namespace taskrel::matrix {

namespace fs = std::filesystem;

std::optional<CompactionSummary> compact_journals(const std::string& output, const std::string& expected_hash,
                                                  const nlohmann::json& expected_options, nlohmann::json header) {
  const JournalContents journal = read_journals(output, expected_hash, expected_options);
  std::vector<std::string> replaced;
  for (const auto& file : journal.files)
    if (std::find(journal.ignored_files.begin(), journal.ignored_files.end(), file) == journal.ignored_files.end())
      replaced.push_back(file);
  int duplicates = 0;
  const auto best = best_records(journal, &duplicates);
  const int dropped = static_cast<int>(journal.records.size() - best.size()) + journal.partial_lines +
                      journal.unreadable_lines;
  if (replaced.empty() || (replaced.size() == 1 && dropped == 0)) return std::nullopt;

  header["compacted_from"] = static_cast<int>(replaced.size());
  std::string text = header.dump() + "\n";
  for (const auto& [key, record] : best) text += record.dump() + "\n";
  // The name sorts after none of the run files in particular; it only has to
  // be new, so it carries the compacting run's id.
  const std::string name = fmt::format("compacted-{}.jsonl", header.value("run", std::string("run")));
  const std::string path = (fs::path(journal_directory(output)) / name).string();
  io::write_file_durably(path, path + ".tmp", text);
  for (const auto& file : replaced) {
    if (file == path) continue;
    std::error_code ec;
    fs::remove(file, ec);
    if (ec) throw RuntimeError(fmt::format("{}: cannot remove it after compaction into {}: {}", file, path, ec.message()));
  }
  return CompactionSummary{path, static_cast<int>(replaced.size()), static_cast<int>(best.size()), dropped, duplicates};
}

}  // namespace taskrel::matrix
