// The durable journal of a matrix run: one JSON line per finished triple,
// appended with write() + fsync() by the leader of the rank group that
// computed it. A triple is either fully recorded (a complete line) or absent:
// a line cut short by a kill is never followed by anything from the same
// writer, and readers ignore a last line without its newline.
//
// Each run writes its own files, OUTPUT/journal/<run>-r<rank>.jsonl, so
// concurrent writers (rank groups, the tasks of an array job) never share a
// file. The first line of every file is a header holding the hash of the
// result-affecting options; readers refuse journals from a different spec.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/append_log.h"

namespace taskrel::matrix {

class JournalWriter {
 public:
  // The file is created on the first append, header first (a run that
  // finishes nothing leaves no file behind).
  JournalWriter(std::string path, const nlohmann::json& header) : log_(std::move(path), header.dump()) {}

  // Appends one record as one line and fsyncs it before returning.
  void append(const nlohmann::json& record) { log_.append(record.dump()); }
  const std::string& path() const { return log_.path(); }

 private:
  io::AppendLog log_;
};

struct JournalContents {
  std::vector<nlohmann::json> records;  // every complete record, file by file in name order
  std::vector<std::string> files;         // every journal file, in name order
  std::vector<std::string> ignored_files; // of those, the ones without a journal header (not read)
  int partial_lines = 0;                // cut-off last lines ignored
  int unreadable_lines = 0;             // complete but unparsable lines skipped (with a warning)
};

// The journal directory of an output directory.
std::string journal_directory(const std::string& output);

// Reads all journal files under `output`. InputError when one was written
// for different result-affecting options (the message names the file, the
// options that differ, and --restart).
JournalContents read_journals(const std::string& output, const std::string& expected_hash,
                              const nlohmann::json& expected_options);

// Key of a record: "encoder/reference/target".
std::string record_key(const nlohmann::json& record);

// The record that counts for each triple (by key): the latest ok one (by
// its "finished" time), else the last failure. `duplicates` counts ok
// records beyond one.
std::map<std::string, nlohmann::json> best_records(const JournalContents& journal, int* duplicates);

}  // namespace taskrel::matrix
