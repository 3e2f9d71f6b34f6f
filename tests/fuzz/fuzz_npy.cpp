// libFuzzer target: the .npy reader (io/npy.h), as an embedding matrix, a
// weight vector and a label vector.
#include "core/error.h"
#include "io/npy.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = taskrel::fuzz::write_input(data, size, "input.npy");
  try { taskrel::io::read_npy_matrix(path); } catch (const taskrel::InputError&) {}
  try { taskrel::io::read_npy_vector(path); } catch (const taskrel::InputError&) {}
  try { taskrel::io::read_npy_labels(path); } catch (const taskrel::InputError&) {}
  return 0;
}
