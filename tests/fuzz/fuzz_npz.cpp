// libFuzzer target: the .npz reader (a zip archive of .npy members through
// libzip, io/zip_archive.h and io/npy.h): member listing, then members read
// by name as matrix and labels.
#include "core/error.h"
#include "io/npy.h"
#include "io/zip_archive.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = taskrel::fuzz::write_input(data, size, "input.npz");
  try {
    const std::vector<char> bytes(data, data + size);
    for (const std::string& name : taskrel::io::zip_member_names(bytes, path)) (void)name;
  } catch (const taskrel::InputError&) {
  }
  for (const char* member : {"x", "y", "embeddings"}) {
    try { taskrel::io::read_npy_matrix(path, member); } catch (const taskrel::InputError&) {}
    try { taskrel::io::read_npy_labels(path, member); } catch (const taskrel::InputError&) {}
  }
  return 0;
}
