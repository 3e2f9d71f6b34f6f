// Shared by the fuzz targets: the readers under test take paths (they must
// also read pipes and .npz members), so each input is written to a file in a
// per-process scratch directory first, and a reader may throw InputError --
// the answer taskrel gives to bad input -- and nothing else. Any other
// exception escapes LLVMFuzzerTestOneInput, terminates the process, and
// libFuzzer (or the replay driver) reports the input.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>

namespace taskrel::fuzz {

inline std::string scratch_path(const std::string& name) {
  static const std::filesystem::path dir = [] {
    auto d = std::filesystem::temp_directory_path() / ("taskrel-fuzz-" + std::to_string(getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  return (dir / name).string();
}

// Writes the input to the scratch file `name` and returns its path.
inline std::string write_input(const std::uint8_t* data, std::size_t size, const std::string& name) {
  const std::string path = scratch_path(name);
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, file) != size) std::abort();
  std::fclose(file);
  return path;
}

// Reads fixed-size values off the front of the input, then zeros once it is
// used up (clang's FuzzedDataProvider is not available to GCC, which builds
// the replay driver).
class ByteReader {
 public:
  ByteReader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  std::uint8_t byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  // A value in [0, n).
  unsigned pick(unsigned n) { return n == 0 ? 0 : byte() % n; }
  double number() {
    std::uint64_t bits = 0;
    for (int i = 0; i < 8; ++i) bits = bits << 8 | byte();
    double value;
    static_assert(sizeof value == sizeof bits);
    __builtin_memcpy(&value, &bits, sizeof value);
    return value;
  }
  std::string text(std::size_t max_length) {
    const std::size_t length = pick(static_cast<unsigned>(max_length + 1));
    std::string out;
    for (std::size_t i = 0; i < length; ++i) out.push_back(static_cast<char>(byte()));
    return out;
  }
  bool done() const { return pos_ >= size_; }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

}  // namespace taskrel::fuzz
