// See input_fingerprint.h. XXH64 measured at ~9 GiB/s on one core here
// (XXH3_64 from Debian's libxxhash0 ~5 GiB/s), far below the cost of
// reading the data from HDF5.
#include "matrix/input_fingerprint.h"

#include <xxhash.h>

#include <chrono>

#include <fmt/format.h>

#include "core/error.h"
#include "io/embedding_store.h"
#include "io/head_reader.h"

namespace taskrel::matrix {

namespace {

std::string hash_of(const void* data, std::size_t bytes) {
  return fmt::format("{:016x}", static_cast<unsigned long long>(XXH64(data, bytes, 0)));
}

template <typename T>
std::string hash_of(const std::vector<T>& values) {
  return hash_of(values.data(), values.size() * sizeof(T));
}

}  // namespace

nlohmann::json FingerprintMemo::of_task(const std::string& store, const std::string& encoder,
                                        const std::string& dataset, bool with_head) {
  const std::string key = fmt::format("{}\n{}\n{}\n{}", store, encoder, dataset, with_head);
  if (auto it = memo_.find(key); it != memo_.end()) return it->second;
  nlohmann::json out;
  try {
    const relatedness::TaskData task = cache_.get(store, encoder, dataset);
    const io::EmbeddingStoreReader reader(store);
    const auto started = std::chrono::steady_clock::now();
    out = {{"encoder", encoder}, {"dataset", dataset}, {"num_classes", task.num_classes}, {"splits", nlohmann::json::object()}};
    auto add_split = [&](const std::string& name, const relatedness::Split& split) {
      const io::SplitInfo info = reader.split_metadata(encoder, dataset, name);
      out["splits"][name] = {{"rows", split.rows},         {"dim", split.dim},
                             {"dtype", info.dtype},        {"label_dtype", info.label_dtype},
                             {"embeddings_xxh64", hash_of(split.z)}, {"labels_xxh64", hash_of(split.y)}};
      bytes_ += static_cast<double>(split.z.size() * sizeof(float) + split.y.size() * sizeof(std::int64_t));
    };
    add_split("train", task.train);
    if (task.has_test) add_split(task.test_split, task.test);
    out["head"] = nullptr;
    if (with_head) {
      if (const auto head = io::read_stored_head(store, encoder, dataset)) {
        out["head"] = {{"classes", head->classes}, {"dim", head->dim},
                       {"weight_xxh64", hash_of(head->weight)}, {"bias_xxh64", hash_of(head->bias)}};
      }
    }
    seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  } catch (const InputError& error) {
    out = {{"error", error.what()}};
  }
  memo_.emplace(key, out);
  return out;
}

nlohmann::json FingerprintMemo::of_triple(const std::string& reference_store, const std::string& target_store,
                                          const std::string& encoder, const std::string& reference,
                                          const std::string& target) {
  return {{"reference", of_task(reference_store, encoder, reference, true)},
          {"target", of_task(target_store, encoder, target, false)}};
}

std::string fingerprint_change(const nlohmann::json& recorded, const nlohmann::json& current) {
  std::vector<std::string> changes;
  for (const char* role : {"reference", "target"}) {
    const nlohmann::json old_task = recorded.value(role, nlohmann::json::object());
    const nlohmann::json new_task = current.value(role, nlohmann::json::object());
    if (old_task == new_task) continue;
    const std::string where = fmt::format("/{}/{}", new_task.value("encoder", old_task.value("encoder", std::string("?"))),
                                          new_task.value("dataset", old_task.value("dataset", std::string("?"))));
    if (new_task.contains("error")) {
      changes.push_back(fmt::format("{} {} cannot be read: {}", role, where, new_task["error"].get<std::string>()));
      continue;
    }
    for (const char* field : {"num_classes", "head"})
      if (old_task.value(field, nlohmann::json()) != new_task.value(field, nlohmann::json()))
        changes.push_back(fmt::format("{} {} {} {} -> {}", role, where, field, old_task.value(field, nlohmann::json()).dump(),
                                      new_task.value(field, nlohmann::json()).dump()));
    const nlohmann::json old_splits = old_task.value("splits", nlohmann::json::object());
    const nlohmann::json new_splits = new_task.value("splits", nlohmann::json::object());
    nlohmann::json names = nlohmann::json::object();
    for (const auto& [name, value] : old_splits.items()) names[name] = true;
    for (const auto& [name, value] : new_splits.items()) names[name] = true;
    for (const auto& [name, unused] : names.items()) {
      const nlohmann::json a = old_splits.value(name, nlohmann::json::object());
      const nlohmann::json b = new_splits.value(name, nlohmann::json::object());
      if (a == b) continue;
      if (a.empty() || b.empty()) {
        changes.push_back(fmt::format("{} {}/{} {}", role, where, name, a.empty() ? "is new" : "is gone"));
        continue;
      }
      for (const auto& [field, value] : b.items())
        if (a.value(field, nlohmann::json()) != value)
          changes.push_back(fmt::format("{} {}/{} {} {} -> {}", role, where, name, field, a.value(field, nlohmann::json()).dump(),
                                        value.dump()));
    }
  }
  std::string text;
  for (const auto& change : changes) text += (text.empty() ? "" : "; ") + change;
  return text;
}

}  // namespace taskrel::matrix
