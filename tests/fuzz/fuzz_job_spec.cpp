// libFuzzer target: the TOML job spec (matrix/job_spec.h): toml++ parsing,
// the option table's key checks ("did you mean"), ranges and the selection of
// encoders, references and targets against a real store. The store is made
// once, beside the spec, so that `store = "store.h5"` in an input resolves.
#include <cstdint>
#include <vector>

#include "core/error.h"
#include "io/embedding_store.h"
#include "matrix/job_spec.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

void make_store_once() {
  static const bool made = [] {
    const std::string store = taskrel::fuzz::scratch_path("store.h5");
    std::vector<float> embeddings(12 * 3);
    for (std::size_t i = 0; i < embeddings.size(); ++i) embeddings[i] = static_cast<float>(i % 7) - 3.0f;
    const std::vector<std::int64_t> labels = {0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2};
    for (const char* dataset : {"alpha", "beta"})
      for (const char* split : {"train", "test"})
        taskrel::io::import_split(store, {"enc", dataset, split}, embeddings, 12, 3, labels, 3, {});
    return true;
  }();
  (void)made;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  make_store_once();
  const std::string path = taskrel::fuzz::write_input(data, size, "job.toml");
  try { taskrel::matrix::parse_job_spec(path); } catch (const taskrel::InputError&) {}
  return 0;
}
