// libFuzzer target: the CSV reader (core/csv_table.h), which reads import
// manifests, relatedness.csv for `correlate` and accuracy tables.
#include "core/csv_table.h"
#include "core/error.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try { taskrel::parse_csv(text, "input.csv"); } catch (const taskrel::InputError&) {}
  const std::string path = taskrel::fuzz::write_input(data, size, "input.csv");
  try { taskrel::read_csv(path); } catch (const taskrel::InputError&) {}
  return 0;
}
