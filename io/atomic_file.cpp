#include "io/atomic_file.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <system_error>

#include <fmt/format.h>

#include "core/error.h"

namespace taskrel::io {

void write_file_atomically(const std::string& path, const std::string& text) {
  const std::string temporary = path + ".tmp";
  {
    std::ofstream file(temporary, std::ios::binary | std::ios::trunc);
    if (!file) throw InputError(fmt::format("{}: cannot write (does its folder exist, and is it writable?)", path));
    file << text;
    file.close();
    if (!file) {
      std::remove(temporary.c_str());
      throw RuntimeError(fmt::format("{}: write failed", path));
    }
  }
  rename_into_place(temporary, path);
}

void rename_into_place(const std::string& temporary, const std::string& path) {
  std::error_code ec;
  std::filesystem::rename(temporary, path, ec);
  if (!ec) return;
  std::remove(temporary.c_str());
  throw RuntimeError(fmt::format("{}: cannot rename {} into place: {}", path, temporary, ec.message()));
}

}  // namespace taskrel::io
