// Loaded tasks (unstandardised) kept per rank, least recently used evicted
// past a byte budget, so a rank group reads each embedding block once, not
// once per triple it appears in.
#pragma once

#include <list>
#include <string>
#include <utility>

#include "relatedness/task_data.h"

namespace taskrel::matrix {

class TaskCache {
 public:
  explicit TaskCache(double budget_gib) : budget_(budget_gib * 1024.0 * 1024.0 * 1024.0) {}

  // The task, from the cache or read with pipeline::load_task.
  relatedness::TaskData get(const std::string& store, const std::string& encoder, const std::string& dataset);
  long long hits() const { return hits_; }
  long long misses() const { return misses_; }

 private:
  double budget_;
  double used_ = 0;
  long long hits_ = 0, misses_ = 0;
  std::list<std::pair<std::string, relatedness::TaskData>> entries_;  // most recent first
};

}  // namespace taskrel::matrix
