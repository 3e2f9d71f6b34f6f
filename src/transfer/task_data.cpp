#include "transfer/task_data.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join

#include "core/error.h"
#include "io/embedding_store.h"

namespace taskrel::transfer {

namespace {

Split read_split(const io::EmbeddingStoreReader& store, const std::string& encoder, const std::string& dataset,
                 const std::string& split) {
  const io::SplitInfo info = store.split_metadata(encoder, dataset, split);
  io::EmbeddingBlock block = store.read_rows(encoder, dataset, split, 0, info.rows);
  Split out;
  out.rows = info.rows;
  out.dim = info.dim;
  out.z = std::move(block.embeddings);
  out.y = std::move(block.labels);
  return out;
}

}  // namespace

TaskData load_task(const std::string& store_path, const std::string& encoder, const std::string& dataset) {
  io::EmbeddingStoreReader store(store_path);
  const auto encoders = store.encoders();
  if (std::find(encoders.begin(), encoders.end(), encoder) == encoders.end())
    throw InputError(fmt::format("{}: no encoder /{} (the store has: {})", store_path, encoder,
                                 fmt::join(encoders, ", ")));
  const auto datasets = store.datasets(encoder);
  if (std::find(datasets.begin(), datasets.end(), dataset) == datasets.end())
    throw InputError(fmt::format("{}: no dataset /{}/{} (encoder {} has: {})", store_path, encoder, dataset, encoder,
                                 fmt::join(datasets, ", ")));
  if (!store.has_split(encoder, dataset, "train"))
    throw InputError(fmt::format("{}: /{}/{}/train is missing (the fit needs a train split)", store_path, encoder,
                                 dataset));
  TaskData task;
  task.encoder = encoder;
  task.dataset = dataset;
  const auto attributes = store.dataset_attributes(encoder, dataset);
  TASKREL_ASSERT(attributes.has_value(), "dataset group /{}/{} vanished", encoder, dataset);
  task.num_classes = attributes->num_classes;
  task.train = read_split(store, encoder, dataset, "train");
  task.dim = task.train.dim;
  if (store.has_split(encoder, dataset, "test")) {
    task.test = read_split(store, encoder, dataset, "test");
    task.has_test = true;
    task.test_split = "test";
  } else {
    task.test = task.train;
  }
  return task;
}

void standardize(TaskData& task) {
  const std::int64_t n = task.train.rows, d = task.dim;
  std::vector<double> mean(d, 0.0), var(d, 0.0);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t c = 0; c < d; ++c) mean[c] += task.train.z[i * d + c];
  for (auto& m : mean) m /= std::max<std::int64_t>(n, 1);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t c = 0; c < d; ++c) {
      const double v = task.train.z[i * d + c] - mean[c];
      var[c] += v * v;
    }
  task.mean.assign(d, 0.0f);
  task.stddev.assign(d, 1.0f);
  for (std::int64_t c = 0; c < d; ++c) {
    const double s = std::sqrt(var[c] / std::max<std::int64_t>(n, 1));
    task.mean[c] = static_cast<float>(mean[c]);
    task.stddev[c] = s > 1e-12 ? static_cast<float>(s) : 1.0f;
  }
  auto apply = [&](Split& split) {
    for (std::int64_t i = 0; i < split.rows; ++i)
      for (std::int64_t c = 0; c < d; ++c) split.z[i * d + c] = (split.z[i * d + c] - task.mean[c]) / task.stddev[c];
  };
  apply(task.train);
  apply(task.test);
}

Split take_rows(const Split& split, const std::vector<std::int64_t>& index) {
  Split out;
  out.dim = split.dim;
  out.rows = static_cast<std::int64_t>(index.size());
  out.z.resize(static_cast<std::size_t>(out.rows * out.dim));
  out.y.resize(index.size());
  for (std::size_t r = 0; r < index.size(); ++r) {
    std::copy_n(split.z.begin() + index[r] * split.dim, split.dim, out.z.begin() + static_cast<std::int64_t>(r) * out.dim);
    out.y[r] = split.y[index[r]];
  }
  return out;
}

}  // namespace taskrel::transfer
