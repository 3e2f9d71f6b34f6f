#include "matrix/journal.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/error.h"

namespace taskrel::matrix {

namespace fs = std::filesystem;

std::string journal_directory(const std::string& output) { return (fs::path(output) / "journal").string(); }

std::string record_key(const nlohmann::json& record) {
  return record.at("encoder").get<std::string>() + "/" + record.at("reference").get<std::string>() + "/" +
         record.at("target").get<std::string>();
}

std::map<std::string, nlohmann::json> best_records(const JournalContents& journal, int* duplicates) {
  std::map<std::string, nlohmann::json> best;
  int dup = 0;
  for (const auto& record : journal.records) {
    const std::string key = record_key(record);
    auto it = best.find(key);
    const bool ok = record.value("status", std::string()) == "ok";
    if (it == best.end()) {
      best.emplace(key, record);
    } else if (it->second.value("status", std::string()) == "ok") {
      // A triple recomputed because its inputs changed has a later ok
      // record; the latest one counts ("finished" is UTC, ties: file order).
      if (ok) {
        ++dup;
        if (record.value("finished", std::string()) >= it->second.value("finished", std::string())) it->second = record;
      }
    } else {
      it->second = record;
    }
  }
  if (duplicates != nullptr) *duplicates = dup;
  return best;
}

JournalContents read_journals(const std::string& output, const std::string& expected_hash,
                              const nlohmann::json& expected_options) {
  JournalContents contents;
  const std::string dir = journal_directory(output);
  if (!fs::is_directory(dir)) return contents;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.is_regular_file() && entry.path().extension() == ".jsonl") contents.files.push_back(entry.path().string());
  std::sort(contents.files.begin(), contents.files.end());
  for (const auto& file : contents.files) {
    const io::LogLines log = io::read_log_lines(file);
    if (log.cut_off) ++contents.partial_lines;  // the triple of a line cut off by a kill is absent
    int line_number = 0;
    bool header_seen = false;
    for (const std::string& line : log.lines) {
      ++line_number;
      nlohmann::json value = nlohmann::json::parse(line, nullptr, false);
      if (value.is_discarded() || !value.is_object()) {
        spdlog::warn("{}:{}: unreadable journal line skipped (its triple will be recomputed)", file, line_number);
        ++contents.unreadable_lines;
        continue;
      }
      if (!header_seen) {
        header_seen = true;
        if (!value.contains("taskrel_journal")) {
          spdlog::warn("{}: no journal header; file ignored", file);
          contents.ignored_files.push_back(file);
          break;
        }
        const std::string hash = value.value("spec_hash", std::string());
        if (hash != expected_hash) {
          std::vector<std::string> changed;
          const nlohmann::json old = value.value("result_options", nlohmann::json::object());
          for (const auto& [key, now] : expected_options.items())
            if (!old.contains(key) || old[key] != now)
              changed.push_back(fmt::format("{} {} -> {}", key, old.contains(key) ? old[key].dump() : "(absent)", now.dump()));
          throw InputError(fmt::format(
              "{}: written by a job with different result-affecting options ({}); rerun with --restart to discard the "
              "old results, or choose another output directory",
              file, changed.empty() ? std::string("hash ") + hash + " vs " + expected_hash : fmt::format("{}", fmt::join(changed, ", "))));
        }
        continue;
      }
      if (!value.contains("encoder") || !value.contains("reference") || !value.contains("target") ||
          !value.contains("status")) {
        spdlog::warn("{}:{}: journal line without a triple skipped", file, line_number);
        ++contents.unreadable_lines;
        continue;
      }
      contents.records.push_back(std::move(value));
    }
  }
  return contents;
}

}  // namespace taskrel::matrix
