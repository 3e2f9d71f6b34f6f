// Writing one split into the embedding store (import_split, embedding_store.h).
// All checks run before the file is opened for writing, so bad input never
// leaves a partial split behind; other entries of the store are never touched.
#include <algorithm>
#include <cmath>
#include <fstream>

#include <fmt/format.h>

#include "core/error.h"
#include "io/embedding_store.h"
#include "io/hdf5_check.h"
#include "io/hdf5_tree.h"
#include "io/space_check.h"

namespace taskrel::io {
namespace {

// Validates the new split against itself and the existing store.
ImportPlan check_import(const std::string& path, const SplitTarget& t, const std::vector<float>& embeddings,
                     std::int64_t rows, std::int64_t dim, const std::vector<std::int64_t>& labels,
                     std::int64_t num_classes, const std::vector<std::string>& class_names) {
  const std::string where = "/" + t.encoder + "/" + t.dataset + "/" + t.split;
  auto fail = [&](const std::string& what) -> void {
    throw InputError(fmt::format("{}: {}: cannot import: {}", path, where, what));
  };
  for (const auto* name : {&t.encoder, &t.dataset, &t.split}) {
    if (name->empty() || name->find('/') != std::string::npos || *name == "." || *name == "..")
      fail(fmt::format("'{}' is not a valid group name (non-empty, no '/')", *name));
    if (name->rfind(kPartialSplitPrefix, 0) == 0)
      fail(fmt::format("'{}' starts with '{}', which marks splits being written", *name, kPartialSplitPrefix));
  }
  if (t.split == "head") fail("'head' is reserved for the classifier head and cannot be a split");
  if (rows <= 0 || dim <= 0) fail(fmt::format("embeddings ({}) are empty ({} x {})", t.embeddings_source, rows, dim));
  TASKREL_ASSERT(static_cast<std::int64_t>(embeddings.size()) == rows * dim, "embeddings size != rows x dim");
  if (static_cast<std::int64_t>(labels.size()) != rows)
    fail(fmt::format("{} has {} labels but {} has {} rows", t.labels_source, labels.size(), t.embeddings_source, rows));
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t c = 0; c < dim; ++c) {
      if (!std::isfinite(embeddings[r * dim + c]))
        fail(fmt::format("non-finite value (NaN/Inf) in row {} of {}", r, t.embeddings_source));
    }
  }

  ImportPlan out;
  std::int64_t existing_classes = 0;
  std::vector<std::string> existing_names;
  if (std::ifstream(path)) {
    EmbeddingStoreReader store(path);  // validates the existing store's structure
    out.replaces = store.has_split(t.encoder, t.dataset, t.split);
    if (out.replaces && !t.overwrite) fail("the split already exists (use --overwrite to replace it)");
    const auto encoders = store.encoders();
    const bool known_encoder = std::find(encoders.begin(), encoders.end(), t.encoder) != encoders.end();
    for (const auto& dataset : known_encoder ? store.datasets(t.encoder) : std::vector<std::string>{}) {
      for (const auto& split : store.splits(t.encoder, dataset)) {
        if (dataset == t.dataset && split == t.split) continue;  // about to be replaced
        const std::int64_t other = store.split_metadata(t.encoder, dataset, split).dim;
        if (other != dim)
          fail(fmt::format("dimension {} of {} differs from dimension {} of /{}/{}/{}/embeddings (all splits of an "
                           "encoder must share one dimension)",
                           dim, t.embeddings_source, other, t.encoder, dataset, split));
      }
    }
    if (auto attributes = store.dataset_attributes(t.encoder, t.dataset)) {
      existing_classes = attributes->num_classes;
      existing_names = attributes->class_names;
    }
  }

  const std::int64_t max_label = *std::max_element(labels.begin(), labels.end());
  if (existing_classes > 0 && num_classes > 0 && num_classes != existing_classes)
    fail(fmt::format("--num-classes {} differs from num_classes {} of /{}/{}", num_classes, existing_classes,
                     t.encoder, t.dataset));
  out.num_classes = existing_classes > 0 ? existing_classes : num_classes > 0 ? num_classes : max_label + 1;
  out.write_num_classes = existing_classes == 0;
  for (std::int64_t r = 0; r < rows; ++r) {
    if (labels[r] < 0 || labels[r] >= out.num_classes)
      fail(fmt::format("label {} in row {} of {} is outside [0, {}) (num_classes)", labels[r], r, t.labels_source,
                       out.num_classes));
  }
  std::vector<std::int64_t> counts(static_cast<std::size_t>(out.num_classes), 0);
  for (auto label : labels) ++counts[static_cast<std::size_t>(label)];
  for (std::size_t c = 0; c < counts.size(); ++c) {
    if (counts[c] == 0)
      fail(fmt::format("class {} has no rows in {} (num_classes is {})", c, t.labels_source, out.num_classes));
  }
  if (!class_names.empty()) {
    if (static_cast<std::int64_t>(class_names.size()) != out.num_classes)
      fail(fmt::format("{} class names for num_classes {}", class_names.size(), out.num_classes));
    if (!existing_names.empty() && existing_names != class_names)
      fail(fmt::format("class names differ from the class_names of /{}/{}", t.encoder, t.dataset));
    out.write_class_names = existing_names.empty();
  }
  return out;
}

Hid open_or_create_group(hid_t parent, const std::string& name) {
  if (has_group(parent, name)) return Hid(TASKREL_HDF5_CHECK(H5Gopen2(parent, name.c_str(), H5P_DEFAULT)), H5Gclose);
  return Hid(TASKREL_HDF5_CHECK(H5Gcreate2(parent, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)), H5Gclose);
}

void write_embeddings(hid_t group, const std::vector<float>& embeddings, std::int64_t rows, std::int64_t dim) {
  const hsize_t dims[2] = {static_cast<hsize_t>(rows), static_cast<hsize_t>(dim)};
  // Whole rows per chunk, about 1 MiB, so a row block reads whole chunks.
  const hsize_t chunk_rows = std::max<hsize_t>(1, std::min<hsize_t>(dims[0], (1u << 20) / (4 * dims[1])));
  const hsize_t chunk[2] = {chunk_rows, dims[1]};
  Hid space(TASKREL_HDF5_CHECK(H5Screate_simple(2, dims, nullptr)), H5Sclose);
  Hid dcpl(TASKREL_HDF5_CHECK(H5Pcreate(H5P_DATASET_CREATE)), H5Pclose);
  TASKREL_HDF5_CHECK(H5Pset_chunk(dcpl.get(), 2, chunk));
  Hid data(TASKREL_HDF5_CHECK(H5Dcreate2(group, "embeddings", H5T_IEEE_F32LE, space.get(), H5P_DEFAULT, dcpl.get(),
                                         H5P_DEFAULT)),
           H5Dclose);
  TASKREL_HDF5_CHECK(H5Dwrite(data.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, embeddings.data()));
  // A chunk HDF5 could not write may be held in its cache and written again
  // at close; a failure there is the write's failure (unchecked, a chunk of
  // zeros would be imported without a word).
  TASKREL_HDF5_CHECK(H5Dclose(data.release()));
}

void write_labels(hid_t group, const std::vector<std::int64_t>& labels) {
  const hsize_t count = labels.size();
  Hid space(TASKREL_HDF5_CHECK(H5Screate_simple(1, &count, nullptr)), H5Sclose);
  Hid data(TASKREL_HDF5_CHECK(H5Dcreate2(group, "labels", H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT,
                                         H5P_DEFAULT)),
           H5Dclose);
  TASKREL_HDF5_CHECK(H5Dwrite(data.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, labels.data()));
  TASKREL_HDF5_CHECK(H5Dclose(data.release()));
}

// Everything import_split writes, on the store opened for writing; closes it
// (the last metadata write, checked). RuntimeError from HDF5 on failure.
void write_split_in_place(Hid& file, const SplitTarget& target, const ImportPlan& plan,
                          const std::vector<float>& embeddings, std::int64_t rows, std::int64_t dim,
                          const std::vector<std::int64_t>& labels, const std::vector<std::string>& class_names) {
  Hid encoder = open_or_create_group(file.get(), target.encoder);
  Hid dataset = open_or_create_group(encoder.get(), target.dataset);
  // The attributes first: a dataset group is never without its num_classes.
  if (plan.write_num_classes) write_integer_attribute(dataset.get(), "num_classes", plan.num_classes);
  if (plan.write_class_names) write_string_list_attribute(dataset.get(), "class_names", class_names);

  const std::string partial = kPartialSplitPrefix + target.split;
  // A partial group left by a killed import of this split is garbage.
  if (has_group(dataset.get(), partial)) TASKREL_HDF5_CHECK(H5Ldelete(dataset.get(), partial.c_str(), H5P_DEFAULT));
  try {
    {
      Hid split(TASKREL_HDF5_CHECK(H5Gcreate2(dataset.get(), partial.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)),
                H5Gclose);
      write_embeddings(split.get(), embeddings, rows, dim);
      write_labels(split.get(), labels);
      TASKREL_HDF5_CHECK(H5Gclose(split.release()));
    }
    TASKREL_HDF5_CHECK(H5Fflush(file.get(), H5F_SCOPE_GLOBAL));
    if (target.overwrite && has_group(dataset.get(), target.split))
      TASKREL_HDF5_CHECK(H5Ldelete(dataset.get(), target.split.c_str(), H5P_DEFAULT));
    TASKREL_HDF5_CHECK(H5Lmove(dataset.get(), partial.c_str(), dataset.get(), target.split.c_str(), H5P_DEFAULT,
                               H5P_DEFAULT));
  } catch (...) {
    // Best effort (the error being thrown is the one to report); readers skip
    // a partial group that could not be removed, and the next import of the
    // split removes it.
    if (has_group(dataset.get(), partial)) H5Ldelete(dataset.get(), partial.c_str(), H5P_DEFAULT);
    throw;
  }
  TASKREL_HDF5_CHECK(H5Fflush(file.get(), H5F_SCOPE_GLOBAL));
  TASKREL_HDF5_CHECK(H5Gclose(dataset.release()));
  TASKREL_HDF5_CHECK(H5Gclose(encoder.release()));
  TASKREL_HDF5_CHECK(H5Fclose(file.release()));
}

}  // namespace

ImportPlan plan_import(const std::string& path, const SplitTarget& target, const std::vector<float>& embeddings,
                       std::int64_t rows, std::int64_t dim, const std::vector<std::int64_t>& labels,
                       std::int64_t num_classes, const std::vector<std::string>& class_names) {
  silence_hdf5_errors();
  return check_import(path, target, embeddings, rows, dim, labels, num_classes, class_names);
}

ImportPlan import_split(const std::string& path, const SplitTarget& target, const std::vector<float>& embeddings,
                        std::int64_t rows, std::int64_t dim, const std::vector<std::int64_t>& labels,
                        std::int64_t num_classes, const std::vector<std::string>& class_names) {
  const ImportPlan plan = plan_import(path, target, embeddings, rows, dim, labels, num_classes, class_names);
  require_room_for(path, split_bytes_needed(rows, dim),
                   fmt::format("importing /{}/{}/{}", target.encoder, target.dataset, target.split));

  const bool exists = static_cast<bool>(std::ifstream(path));
  const hid_t opened = exists ? H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT)
                              : H5Fcreate(path.c_str(), H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT);
  if (opened < 0)
    throw RuntimeError(fmt::format("{}: cannot open the store for writing /{}/{}/{}: {}", path, target.encoder,
                                   target.dataset, target.split, last_hdf5_error()));
  Hid file(opened, H5Fclose);
  try {
    write_split_in_place(file, target, plan, embeddings, rows, dim, labels, class_names);
  } catch (const RuntimeError& error) {
    // HDF5's message names the call, not the store or the split.
    throw RuntimeError(fmt::format("{}: writing /{}/{}/{} failed (a partial split is removed, and never read): {}",
                                   path, target.encoder, target.dataset, target.split, error.what()));
  }
  return plan;
}

}  // namespace taskrel::io
