// An fsync'd append-only log of text lines, the durable record behind every
// resumable command (`matrix` journals, `build-zoo`'s journal.txt). Each line
// goes out in one write() and is fsync'ed before append() returns, so a kill
// leaves every line whole except, at worst, the last one cut short at the
// end of the file; readers drop such a line (its work is simply redone).
#pragma once

#include <string>
#include <vector>

namespace taskrel::io {

class AppendLog {
 public:
  // The file (and its folder) is created on the first append, starting with
  // `first_line` when one is given (a header), so a run that records nothing
  // leaves nothing behind. An existing file is appended to.
  explicit AppendLog(std::string path, std::string first_line = {});
  ~AppendLog();
  AppendLog(const AppendLog&) = delete;
  AppendLog& operator=(const AppendLog&) = delete;

  // Appends `line` and a newline; RuntimeError naming the file on failure.
  void append(const std::string& line);
  const std::string& path() const { return path_; }

 private:
  void write_all(const std::string& text);
  std::string path_;
  std::string first_line_;
  int fd_ = -1;
};

struct LogLines {
  std::vector<std::string> lines;  // every complete line, in order
  bool cut_off = false;            // the file ended in a line without its newline (dropped)
};

// The complete lines of a log; a missing file has none. RuntimeError when
// the file exists but cannot be read.
LogLines read_log_lines(const std::string& path);

}  // namespace taskrel::io
