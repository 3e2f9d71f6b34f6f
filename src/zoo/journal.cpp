#include "zoo/journal.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/error.h"

namespace taskrel::zoo {

namespace fs = std::filesystem;

namespace {

void fsync_directory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

JournalWriter::JournalWriter(std::string path, nlohmann::json header)
    : path_(std::move(path)), header_(std::move(header)) {}

JournalWriter::~JournalWriter() {
  if (fd_ >= 0) ::close(fd_);
}

void JournalWriter::write_line(const std::string& line) {
  // One write() per line: a kill leaves the line either whole or cut short
  // at the end of the file, never interleaved.
  std::size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw RuntimeError(fmt::format("{}: journal write failed: {}", path_, std::strerror(errno)));
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd_) != 0) throw RuntimeError(fmt::format("{}: journal fsync failed: {}", path_, std::strerror(errno)));
}

void JournalWriter::append(const nlohmann::json& record) {
  if (fd_ < 0) {
    const std::string dir = fs::path(path_).parent_path().string();
    std::error_code ec;
    fs::create_directories(dir, ec);
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd_ < 0) throw RuntimeError(fmt::format("{}: cannot create the journal: {}", path_, std::strerror(errno)));
    write_line(header_.dump() + "\n");
    fsync_directory(dir);
  }
  write_line(record.dump() + "\n");
}

std::string journal_directory(const std::string& output) { return (fs::path(output) / "journal").string(); }

std::string record_key(const nlohmann::json& record) {
  return record.at("encoder").get<std::string>() + "/" + record.at("reference").get<std::string>() + "/" +
         record.at("target").get<std::string>();
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
    std::ifstream in(file, std::ios::binary);
    if (!in) throw RuntimeError(fmt::format("{}: cannot read the journal", file));
    std::stringstream buffer;
    buffer << in.rdbuf();
    const std::string text = buffer.str();
    std::size_t start = 0;
    int line_number = 0;
    bool header_seen = false;
    while (start < text.size()) {
      const std::size_t end = text.find('\n', start);
      ++line_number;
      if (end == std::string::npos) {  // cut off by a kill: the triple is absent
        ++contents.partial_lines;
        break;
      }
      const std::string line = text.substr(start, end - start);
      start = end + 1;
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

}  // namespace taskrel::zoo
