#include "core/csv_table.h"

#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "core/error.h"

namespace taskrel {

std::optional<std::size_t> CsvTable::find_column(const std::string& name) const {
  for (std::size_t i = 0; i < header.size(); ++i)
    if (header[i] == name) return i;
  return std::nullopt;
}

std::size_t CsvTable::column(const std::string& name) const {
  const auto index = find_column(name);
  if (!index) throw InputError(fmt::format("{}: missing column '{}' (header: {})", source, name,
                                           fmt::join(header, ",")));
  return *index;
}

namespace {

// One pass over the text as a state machine; `line` counts physical lines so
// that a quoted line break still gives the right line for later records.
class CsvParser {
 public:
  CsvParser(const std::string& text, const std::string& source) : text_(text), source_(source) {}

  std::vector<std::pair<std::size_t, std::vector<std::string>>> records() {
    std::vector<std::pair<std::size_t, std::vector<std::string>>> out;
    std::size_t pos = 0;
    if (text_.compare(0, 3, "\xEF\xBB\xBF") == 0) pos = 3;
    std::size_t line = 1;
    while (pos < text_.size()) {
      const std::size_t start_line = line;
      std::vector<std::string> fields;
      bool blank = true;
      for (;;) {
        std::string field;
        bool quoted = false;
        if (pos < text_.size() && text_[pos] == '"') {
          quoted = true;
          blank = false;
          ++pos;
          for (;;) {
            if (pos >= text_.size())
              throw InputError(fmt::format("{}: line {}: unterminated quoted field", source_, start_line));
            const char c = text_[pos++];
            if (c == '"') {
              if (pos < text_.size() && text_[pos] == '"') {
                field += '"';
                ++pos;
              } else {
                break;
              }
            } else {
              if (c == '\n') ++line;
              field += c;
            }
          }
        }
        // Unquoted text (or what follows a closing quote, which must be a separator).
        while (pos < text_.size() && text_[pos] != ',' && text_[pos] != '\n' && text_[pos] != '\r') {
          if (quoted || text_[pos] == '"')
            throw InputError(fmt::format("{}: line {}: stray quote character in field {} (quote a field "
                                         "entirely and double quotes inside it)",
                                         source_, line, fields.size() + 1));
          field += text_[pos++];
          blank = false;
        }
        fields.push_back(std::move(field));
        if (pos < text_.size() && text_[pos] == ',') {
          ++pos;
          blank = false;
          continue;
        }
        // End of record: CRLF, LF, a lone CR, or the end of the text.
        if (pos < text_.size() && text_[pos] == '\r') ++pos;
        if (pos < text_.size() && text_[pos] == '\n') ++pos;
        ++line;
        break;
      }
      if (!blank) out.emplace_back(start_line, std::move(fields));
    }
    return out;
  }

 private:
  const std::string& text_;
  const std::string& source_;
};

}  // namespace

CsvTable parse_csv(const std::string& text, const std::string& source) {
  CsvTable table;
  table.source = source;
  auto records = CsvParser(text, source).records();
  if (records.empty()) throw InputError(fmt::format("{}: empty file (expected a header line)", source));
  table.header = std::move(records.front().second);
  for (std::size_t i = 0; i < table.header.size(); ++i)
    for (std::size_t j = 0; j < i; ++j)
      if (table.header[i] == table.header[j])
        throw InputError(fmt::format("{}: duplicate column '{}' in the header", source, table.header[i]));
  for (std::size_t r = 1; r < records.size(); ++r) {
    auto& [line, fields] = records[r];
    if (fields.size() != table.header.size())
      throw InputError(fmt::format("{}: line {}: {} fields, but the header has {}", source, line, fields.size(),
                                   table.header.size()));
    table.rows.push_back(std::move(fields));
    table.row_lines.push_back(line);
  }
  return table;
}

CsvTable read_csv(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw InputError(fmt::format("{}: cannot open the file", path));
  std::ostringstream text;
  text << file.rdbuf();
  if (file.bad()) throw InputError(fmt::format("{}: read failed", path));
  return parse_csv(text.str(), path);
}

}  // namespace taskrel
