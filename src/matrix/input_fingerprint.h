// Results tied to the data they came from. A triple's fingerprint records,
// for its reference and its target task, each split's shape, stored dtypes,
// num_classes and an XXH64 of the embeddings (float32, row-major: what the
// fit reads) and of the labels (int64), plus the reference's stored head
// (weight and bias) when the store has one, since it is then used. A rerun
// recomputes a finished triple whose fingerprint changed (a split
// re-imported with --overwrite, a store replaced); --collect refuses to
// write a matrix from records whose inputs changed.
//
// Each task is read and hashed once per FingerprintMemo.
#pragma once

#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "matrix/task_cache.h"

namespace taskrel::matrix {

class FingerprintMemo {
 public:
  explicit FingerprintMemo(TaskCache& cache) : cache_(cache) {}

  // {"reference": TASK, "target": TASK}; TASK is {"encoder", "dataset",
  // "num_classes", "splits": {NAME: {rows, dim, dtype, label_dtype,
  // embeddings_xxh64, labels_xxh64}}, "head": {..} or null}, or {"error": why}
  // when the task cannot be read any more.
  nlohmann::json of_triple(const std::string& reference_store, const std::string& target_store,
                           const std::string& encoder, const std::string& reference, const std::string& target);

  double seconds_hashing() const { return seconds_; }
  double bytes_hashed() const { return bytes_; }

 private:
  nlohmann::json of_task(const std::string& store, const std::string& encoder, const std::string& dataset,
                         bool with_head);
  TaskCache& cache_;
  std::map<std::string, nlohmann::json> memo_;
  double seconds_ = 0.0, bytes_ = 0.0;
};

// What differs between a recorded fingerprint and the current one, e.g.
// "reference /enc1/task2/test embeddings_xxh64 1f.. -> 9a.."; "" when equal.
std::string fingerprint_change(const nlohmann::json& recorded, const nlohmann::json& current);

}  // namespace taskrel::matrix
