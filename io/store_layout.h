// Internal to io/: the metadata tree of an embedding store, read and checked
// once when a store is opened (embedding_store.h lists the invariants): per
// encoder, dataset and split the rows, dimension, dtypes, classes and names.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "io/embedding_store.h"

namespace taskrel::io {

// Metadata of one split, gathered and checked when the store is opened.
struct SplitMeta {
  std::int64_t rows = 0;
  std::int64_t dim = 0;
  std::string dtype;
  std::string label_dtype;
  std::int64_t num_classes = 0;
  std::vector<std::string> class_names;
};

struct DatasetMeta {
  DatasetAttributes attributes;
  std::map<std::string, SplitMeta> splits;
};

using Tree = std::map<std::string, std::map<std::string, DatasetMeta>>;


// Walks every /<encoder>/<dataset>/<split> of the open file `file`;
// InputError naming `path` and the HDF5 path for every broken invariant.
Tree scan_store_layout(hid_t file, const std::string& path);

// Path helpers: "/<encoder>/<dataset>/<split>".
std::string split_path(const std::string& encoder, const std::string& dataset, const std::string& split);

}  // namespace taskrel::io
