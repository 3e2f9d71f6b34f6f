// The fuzz targets' main where libFuzzer is not linked (GCC builds): runs
// LLVMFuzzerTestOneInput once on every file named, or in the directories
// named -- the seed corpus and every input a fuzzing run ever found, kept as
// regression tests (tests/fuzz/README.md). Exits non-zero if any input made
// the target abort, which the sanitizers and an escaping exception do.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

void replay(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::fprintf(stderr, "replay: %s (%zu bytes)\n", file.c_str(), bytes.size());
  LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t inputs = 0;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path path = argv[i];
    if (!std::filesystem::exists(path)) {
      // regressions/<target> exists only once a fuzzing run has found something.
      std::fprintf(stderr, "replay: %s does not exist (skipped)\n", path.c_str());
      continue;
    }
    if (std::filesystem::is_directory(path)) {
      std::vector<std::filesystem::path> files;
      for (const auto& entry : std::filesystem::directory_iterator(path))
        if (entry.is_regular_file()) files.push_back(entry.path());
      std::sort(files.begin(), files.end());
      for (const auto& file : files) replay(file), ++inputs;
    } else {
      replay(path), ++inputs;
    }
  }
  if (inputs == 0) {
    std::fprintf(stderr, "replay: no inputs found in the paths given\n");
    return 1;
  }
  std::printf("replay: %zu inputs, no failure\n", inputs);
  return 0;
}
