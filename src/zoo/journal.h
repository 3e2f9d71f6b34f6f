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

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace taskrel::zoo {

class JournalWriter {
 public:
  // The file is created on the first append (a run that finishes nothing
  // leaves no file behind).
  JournalWriter(std::string path, nlohmann::json header);
  ~JournalWriter();
  JournalWriter(const JournalWriter&) = delete;
  JournalWriter& operator=(const JournalWriter&) = delete;

  // Appends one record as one line and fsyncs it before returning.
  void append(const nlohmann::json& record);
  const std::string& path() const { return path_; }

 private:
  void write_line(const std::string& line);
  std::string path_;
  nlohmann::json header_;
  int fd_ = -1;
};

struct JournalContents {
  std::vector<nlohmann::json> records;  // every complete record, file by file in name order
  std::vector<std::string> files;
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

}  // namespace taskrel::zoo
