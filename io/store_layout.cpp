#include "io/store_layout.h"

#include <fmt/format.h>

#include "core/error.h"
#include "io/hdf5_check.h"
#include "io/embedding_store.h"
#include "io/hdf5_tree.h"

namespace taskrel::io {

namespace {

std::string float_dtype_name(std::size_t bytes) {
  return bytes == 2 ? "float16" : bytes == 4 ? "float32" : bytes == 8 ? "float64" : "float" + std::to_string(8 * bytes);
}

class Scanner {
 public:
  Scanner(hid_t file, const std::string& path) : file_(file), path_(path) {}

  [[noreturn]] void fail(const std::string& hdf5_path, const std::string& what) const {
    throw InputError(fmt::format("{}: {}: {}", path_, hdf5_path, what));
  }

  Tree scan() {
    Tree tree;
    for (const auto& encoder : child_groups(file_)) {
      Hid encoder_group(TASKREL_HDF5_CHECK(H5Gopen2(file_, encoder.c_str(), H5P_DEFAULT)), H5Gclose);
      std::string dim_source;
      std::int64_t encoder_dim = -1;
      auto& datasets = tree[encoder];
      for (const auto& dataset : child_groups(encoder_group.get())) {
        const std::string dataset_path = "/" + encoder + "/" + dataset;
        Hid group(TASKREL_HDF5_CHECK(H5Gopen2(encoder_group.get(), dataset.c_str(), H5P_DEFAULT)), H5Gclose);
        std::string problem;
        const auto num_classes = read_integer_attribute(group.get(), "num_classes", &problem);
        if (!problem.empty()) fail(dataset_path, problem);
        if (!num_classes) fail(dataset_path, "missing attribute num_classes");
        if (*num_classes <= 0) fail(dataset_path, fmt::format("num_classes is {}, must be positive", *num_classes));
        const auto names = read_string_list_attribute(group.get(), "class_names", &problem);
        if (!problem.empty()) fail(dataset_path, problem);
        if (names && static_cast<std::int64_t>(names->size()) != *num_classes)
          fail(dataset_path, fmt::format("class_names has {} names but num_classes is {}", names->size(), *num_classes));
        auto& dataset_meta = datasets[dataset];
        dataset_meta.attributes.num_classes = *num_classes;
        if (names) dataset_meta.attributes.class_names = *names;
        auto& splits = dataset_meta.splits;
        for (const auto& split : child_groups(group.get())) {
          if (split == "head") continue;  // the optional classifier head, not a split
          if (split.rfind(kPartialSplitPrefix, 0) == 0) continue;  // being written (or left by a killed import)
          SplitMeta meta = scan_split(group.get(), split_path(encoder, dataset, split));
          meta.num_classes = *num_classes;
          // Also bounds every per-class allocation by a real row count.
          if (meta.rows < meta.num_classes)
            fail(split_path(encoder, dataset, split) + "/labels",
                 fmt::format("{} rows cannot cover num_classes {}: some class has no rows", meta.rows, meta.num_classes));
          if (names) meta.class_names = *names;
          if (encoder_dim < 0) {
            encoder_dim = meta.dim;
            dim_source = split_path(encoder, dataset, split) + "/embeddings";
          } else if (meta.dim != encoder_dim) {
            fail(split_path(encoder, dataset, split) + "/embeddings",
                 fmt::format("dimension {} differs from dimension {} of {} (all splits of an encoder must share "
                             "one dimension)",
                             meta.dim, encoder_dim, dim_source));
          }
          splits[split] = std::move(meta);
        }
      }
    }
    return tree;
  }

  SplitMeta scan_split(hid_t dataset_group, const std::string& where) {
    const std::string split = where.substr(where.rfind('/') + 1);
    Hid group(TASKREL_HDF5_CHECK(H5Gopen2(dataset_group, split.c_str(), H5P_DEFAULT)), H5Gclose);
    SplitMeta meta;
    if (!has_dataset(group.get(), "embeddings")) fail(where + "/embeddings", "missing dataset");
    if (!has_dataset(group.get(), "labels")) fail(where + "/labels", "missing dataset");
    {
      Hid data(TASKREL_HDF5_CHECK(H5Dopen2(group.get(), "embeddings", H5P_DEFAULT)), H5Dclose);
      Hid space(TASKREL_HDF5_CHECK(H5Dget_space(data.get())), H5Sclose);
      Hid type(TASKREL_HDF5_CHECK(H5Dget_type(data.get())), H5Tclose);
      const int rank = TASKREL_HDF5_CHECK(H5Sget_simple_extent_ndims(space.get()));
      if (rank != 2) fail(where + "/embeddings", fmt::format("embeddings must be 2-D (rows x dim), got {}-D", rank));
      hsize_t dims[2];
      TASKREL_HDF5_CHECK(H5Sget_simple_extent_dims(space.get(), dims, nullptr));
      const std::size_t size = H5Tget_size(type.get());
      if (H5Tget_class(type.get()) != H5T_FLOAT || (size != 2 && size != 4 && size != 8))
        fail(where + "/embeddings", "unsupported dtype (need float16, float32 or float64)");
      meta.rows = static_cast<std::int64_t>(dims[0]);
      meta.dim = static_cast<std::int64_t>(dims[1]);
      meta.dtype = float_dtype_name(size);
    }
    Hid labels(TASKREL_HDF5_CHECK(H5Dopen2(group.get(), "labels", H5P_DEFAULT)), H5Dclose);
    Hid space(TASKREL_HDF5_CHECK(H5Dget_space(labels.get())), H5Sclose);
    Hid type(TASKREL_HDF5_CHECK(H5Dget_type(labels.get())), H5Tclose);
    const int rank = TASKREL_HDF5_CHECK(H5Sget_simple_extent_ndims(space.get()));
    if (rank != 1 || H5Tget_class(type.get()) != H5T_INTEGER)
      fail(where + "/labels", "labels must be a 1-D integer array");
    hsize_t count = 0;
    TASKREL_HDF5_CHECK(H5Sget_simple_extent_dims(space.get(), &count, nullptr));
    if (static_cast<std::int64_t>(count) != meta.rows)
      fail(where + "/labels", fmt::format("{} labels for {} embedding rows", count, meta.rows));
    meta.label_dtype = fmt::format("{}int{}", H5Tget_sign(type.get()) == H5T_SGN_NONE ? "u" : "",
                                   8 * H5Tget_size(type.get()));
    return meta;
  }

 private:
  hid_t file_;
  const std::string& path_;
};

}  // namespace

std::string split_path(const std::string& e, const std::string& d, const std::string& s) {
  return "/" + e + "/" + d + "/" + s;
}

Tree scan_store_layout(hid_t file, const std::string& path) { return Scanner(file, path).scan(); }

}  // namespace taskrel::io
