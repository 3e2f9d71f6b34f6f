// The optional classifier head stored with a dataset:
// /<encoder>/<dataset>/head/weight (K x d float) and .../head/bias (K float),
// the encoder's own classifier on the raw embeddings.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace taskrel::io {

struct StoredHead {
  std::int64_t classes = 0;
  std::int64_t dim = 0;
  std::vector<float> weight;  // classes x dim, row-major
  std::vector<float> bias;    // classes
};

// The head of encoder/dataset, or nullopt when the store has none. InputError
// naming the file and path when it exists but is malformed (missing bias,
// wrong rank or shape, not float, NaN/Inf).
std::optional<StoredHead> read_stored_head(const std::string& store_path, const std::string& encoder,
                                           const std::string& dataset);

}  // namespace taskrel::io
