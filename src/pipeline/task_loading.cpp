#include "pipeline/task_loading.h"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join

#include "core/error.h"
#include "io/embedding_store.h"

namespace taskrel::pipeline {

using relatedness::Split;
using relatedness::TaskData;

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

}  // namespace taskrel::pipeline
