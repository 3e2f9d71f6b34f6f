// The CSV reader against RFC 4180 cases: quoting, embedded separators and
// line breaks, doubled quotes, CRLF, and the errors naming file and line.
#include <gtest/gtest.h>

#include "core/error.h"
#include "core/csv_table.h"

namespace taskrel {
namespace {

using Rows = std::vector<std::vector<std::string>>;

TEST(CsvTable, PlainFieldsAndHeader) {
  const auto t = parse_csv("encoder,target,accuracy\nresnet,cifar10,0.9\nvit,cifar10,0.95\n", "f.csv");
  EXPECT_EQ(t.header, (std::vector<std::string>{"encoder", "target", "accuracy"}));
  EXPECT_EQ(t.rows, (Rows{{"resnet", "cifar10", "0.9"}, {"vit", "cifar10", "0.95"}}));
  EXPECT_EQ(t.row_lines, (std::vector<std::size_t>{2, 3}));
  EXPECT_EQ(t.column("accuracy"), 2u);
  EXPECT_FALSE(t.find_column("reference"));
}

TEST(CsvTable, QuotesEmbeddedCommasDoubledQuotesAndLineBreaks) {
  const auto t = parse_csv("a,b,c\n\"x,y\",\"say \"\"hi\"\"\",\"two\nlines\"\nplain,,\"\"\n", "f.csv");
  EXPECT_EQ(t.rows, (Rows{{"x,y", "say \"hi\"", "two\nlines"}, {"plain", "", ""}}));
  // The record after a quoted line break starts on physical line 4.
  EXPECT_EQ(t.row_lines, (std::vector<std::size_t>{2, 4}));
}

TEST(CsvTable, CrlfByteOrderMarkBlankLinesAndNoFinalNewline) {
  const auto t = parse_csv("\xEF\xBB\xBF" "a,b\r\n1,\"2\r\n3\"\r\n\r\n4,5", "f.csv");
  EXPECT_EQ(t.header, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(t.rows, (Rows{{"1", "2\r\n3"}, {"4", "5"}}));
  EXPECT_EQ(t.row_lines, (std::vector<std::size_t>{2, 5}));
}

TEST(CsvTable, ErrorsNameFileAndLine) {
  auto message = [](const std::string& text) {
    try {
      parse_csv(text, "bad.csv");
    } catch (const InputError& error) {
      return std::string(error.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message("a,b\n1,2\n3\n"), "bad.csv: line 3: 1 fields, but the header has 2");
  EXPECT_EQ(message("a,b\n1,\"2\n"), "bad.csv: line 2: unterminated quoted field");
  EXPECT_NE(message("a,b\n1,\"2\"x\n").find("bad.csv: line 2: stray quote"), std::string::npos);
  EXPECT_NE(message("a,b\n1,2\"\n").find("line 2"), std::string::npos);
  EXPECT_EQ(message(""), "bad.csv: empty file (expected a header line)");
  EXPECT_EQ(message("a,a\n"), "bad.csv: duplicate column 'a' in the header");
  const auto t = parse_csv("a,b\n", "f.csv");
  EXPECT_THROW(t.column("c"), InputError);
  EXPECT_THROW(read_csv("/nonexistent/taskrel/none.csv"), InputError);
}

}  // namespace
}  // namespace taskrel
