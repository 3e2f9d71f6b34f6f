#include "matrix/task_cache.h"

#include "pipeline/task_loading.h"

namespace taskrel::matrix {

namespace {

double bytes_of(const relatedness::TaskData& t) {
  return 4.0 * static_cast<double>(t.train.z.size() + t.test.z.size()) +
         8.0 * static_cast<double>(t.train.y.size() + t.test.y.size());
}

}  // namespace

relatedness::TaskData TaskCache::get(const std::string& store, const std::string& encoder,
                                     const std::string& dataset) {
  const std::string key = store + "\n" + encoder + "\n" + dataset;
  for (auto it = entries_.begin(); it != entries_.end(); ++it)
    if (it->first == key) {
      entries_.splice(entries_.begin(), entries_, it);
      ++hits_;
      return entries_.front().second;
    }
  ++misses_;
  relatedness::TaskData task = pipeline::load_task(store, encoder, dataset);
  const double size = bytes_of(task);
  if (size <= budget_) {
    entries_.emplace_front(key, task);
    used_ += size;
    while (used_ > budget_ && entries_.size() > 1) {
      used_ -= bytes_of(entries_.back().second);
      entries_.pop_back();
    }
  }
  return task;
}

}  // namespace taskrel::matrix
