// libFuzzer target: the IDX reader (io/idx.h; the Fashion-MNIST files).
#include "core/error.h"
#include "io/idx.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = taskrel::fuzz::write_input(data, size, "input.idx");
  try { taskrel::io::read_idx(path); } catch (const taskrel::InputError&) {}
  return 0;
}
