// A small RFC-4180 CSV reader for the tabular inputs (relatedness.csv of
// `taskrel matrix`, finetune.csv, import manifests). Debian packages no C++ CSV library that
// reads a header-defined, run-time number of columns (fast-cpp-csv-parser
// fixes the column count at compile time), so this is hand-written.
//
// Accepted: fields separated by ',', records by LF or CRLF; a field may be
// quoted, a quoted field may hold commas, line breaks and doubled quotes;
// a UTF-8 byte-order mark and blank lines are ignored. Every record must
// have as many fields as the header. Errors are InputError naming the file
// and the line.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace taskrel {

struct CsvTable {
  std::string source;                            // the file name, for messages
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;    // each has header.size() fields
  std::vector<std::size_t> row_lines;            // the line each row starts on (1-based, header is line 1)

  std::optional<std::size_t> find_column(const std::string& name) const;
  // The column's index, or InputError "<source>: missing column '<name>'".
  std::size_t column(const std::string& name) const;
};

// `source` names the text in error messages.
CsvTable parse_csv(const std::string& text, const std::string& source);
// Reads a whole file; a missing or unreadable file is an InputError.
CsvTable read_csv(const std::string& path);

}  // namespace taskrel
