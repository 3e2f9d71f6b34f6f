// Journals that do not grow without bound. Every run appends its own journal
// files (journal.h), so reruns, rank groups and array tasks leave many files,
// and retried triples leave several records each. Compaction rewrites them
// into one file holding the record that counts for each triple
// (best_records: the latest ok one, else the last failure), written durably
// (temporary + fsync + rename + fsync of the folder), and only then removes
// the files it replaced. A kill in between leaves the old files beside the
// new one: the same triples twice, which readers already take once.
//
// The caller must hold OUTPUT/locks/journal.lock exclusively
// (output_lock.h): no run may append while the files are rewritten.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace taskrel::matrix {

struct CompactionSummary {
  std::string file;   // the one journal file left
  int files = 0;      // files it replaced
  int records = 0;    // records kept (one per triple)
  int dropped = 0;    // superseded records, duplicates and cut-off lines dropped
  int duplicates = 0; // of those, triples recorded ok more than once
};

// Compacts the journals of `output` (read as read_journals does, with the
// same InputError for journals of other options). `header` becomes the new
// file's first line. Nothing to do (no files, or one file with nothing to
// drop) gives nullopt. Files without a journal header are left alone.
std::optional<CompactionSummary> compact_journals(const std::string& output, const std::string& expected_hash,
                                                  const nlohmann::json& expected_options, nlohmann::json header);

}  // namespace taskrel::matrix
