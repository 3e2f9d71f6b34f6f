// Reading the embedding store (see embedding_store.h for layout and checks).
#include "io/embedding_store.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>

#include "core/error.h"
#include "io/hdf5_check.h"
#ifdef TASKREL_PARALLEL_HDF5
#include "comm/mpi_communicator.h"
#endif
#include "io/hdf5_tree.h"

namespace taskrel::io {
namespace {

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

constexpr long long kNone = std::numeric_limits<long long>::max();

std::string float_dtype_name(std::size_t bytes) {
  return bytes == 2 ? "float16" : bytes == 4 ? "float32" : bytes == 8 ? "float64" : "float" + std::to_string(8 * bytes);
}

std::string split_path(const std::string& e, const std::string& d, const std::string& s) {
  return "/" + e + "/" + d + "/" + s;
}

}  // namespace

struct EmbeddingStoreReader::State {
  std::string path;
  Hid file;
  bool mpio = false;  // opened with the MPI-IO driver on `comm`
  Communicator* comm = nullptr;
  Tree tree;
  mutable bool last_collective = false;

  [[noreturn]] void fail(const std::string& hdf5_path, const std::string& what) const {
    throw InputError(fmt::format("{}: {}: {}", path, hdf5_path, what));
  }

  void open(const std::string& store_path, Communicator* on) {
    path = store_path;
    comm = on;
    silence_hdf5_errors();
    if (!std::ifstream(path)) throw InputError(fmt::format("{}: cannot open file (missing or unreadable)", path));
    if (H5Fis_hdf5(path.c_str()) <= 0)
      throw InputError(fmt::format("{}: not an HDF5 file (or its superblock is corrupt)", path));
    Hid fapl(TASKREL_HDF5_CHECK(H5Pcreate(H5P_FILE_ACCESS)), H5Pclose);
#ifdef TASKREL_PARALLEL_HDF5
    // MPI-IO needs the MPI communicator itself; a transport without one reads independently.
    if (comm != nullptr && comm->mpi_host() != nullptr) {
      TASKREL_HDF5_CHECK(H5Pset_fapl_mpio(fapl.get(), comm->mpi_host()->native(), MPI_INFO_NULL));
      mpio = true;
    }
#endif
    const hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get());
    if (id < 0)
      throw InputError(fmt::format("{}: cannot open as HDF5 (truncated or corrupt file): {}", path, last_hdf5_error()));
    file = Hid(id, H5Fclose);
    scan();
  }

  // Walks the layout and checks the metadata invariants (header comment).
  void scan() {
    for (const auto& encoder : child_groups(file.get())) {
      Hid encoder_group(TASKREL_HDF5_CHECK(H5Gopen2(file.get(), encoder.c_str(), H5P_DEFAULT)), H5Gclose);
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

  const SplitMeta& meta(const std::string& e, const std::string& d, const std::string& s) const {
    auto encoder = tree.find(e);
    if (encoder == tree.end()) fail("/" + e, "no such encoder group");
    auto dataset = encoder->second.find(d);
    if (dataset == encoder->second.end()) fail("/" + e + "/" + d, "no such dataset group");
    auto split = dataset->second.splits.find(s);
    if (split == dataset->second.splits.end()) fail(split_path(e, d, s), "no such split group");
    return split->second;
  }

  // Reads rows [begin, end) of one split; collective when `collective`.
  EmbeddingBlock read(const std::string& e, const std::string& d, const std::string& s, RowBlock block,
                      bool collective) const {
    const SplitMeta& m = meta(e, d, s);
    TASKREL_ASSERT(block.begin >= 0 && block.begin <= block.end && block.end <= m.rows, "bad row block");
    EmbeddingBlock out;
    out.block = block;
    out.dim = m.dim;
    out.embeddings.resize(static_cast<std::size_t>(block.size() * m.dim));
    out.labels.resize(static_cast<std::size_t>(block.size()));
    Hid dxpl(TASKREL_HDF5_CHECK(H5Pcreate(H5P_DATASET_XFER)), H5Pclose);
#ifdef TASKREL_PARALLEL_HDF5
    if (collective) TASKREL_HDF5_CHECK(H5Pset_dxpl_mpio(dxpl.get(), H5FD_MPIO_COLLECTIVE));
#endif
    const std::string base = split_path(e, d, s);
    bool all_collective = collective;
    all_collective &= read_rows_of((base + "/embeddings").c_str(), H5T_NATIVE_FLOAT, block, m.dim,
                                   out.embeddings.data(), dxpl.get());
    all_collective &= read_rows_of((base + "/labels").c_str(), H5T_NATIVE_INT64, block, 0, out.labels.data(),
                                   dxpl.get());
    last_collective = all_collective;
    return out;
  }

  // One hyperslab read of rows [begin, end) (dim == 0: a 1-D dataset).
  // Returns whether MPI-IO reported a collective transfer.
  bool read_rows_of(const char* name, hid_t memory_type, RowBlock block, std::int64_t dim, void* buffer,
                    hid_t dxpl) const {
    Hid data(TASKREL_HDF5_CHECK(H5Dopen2(file.get(), name, H5P_DEFAULT)), H5Dclose);
    Hid file_space(TASKREL_HDF5_CHECK(H5Dget_space(data.get())), H5Sclose);
    const int rank = dim > 0 ? 2 : 1;
    const hsize_t start[2] = {static_cast<hsize_t>(block.begin), 0};
    const hsize_t count[2] = {static_cast<hsize_t>(block.size()), static_cast<hsize_t>(dim)};
    Hid memory_space(TASKREL_HDF5_CHECK(H5Screate_simple(rank, count, nullptr)), H5Sclose);
    if (block.size() == 0 || (dim > 0 && count[1] == 0)) {
      // Ranks with nothing to read still take part in a collective read.
      TASKREL_HDF5_CHECK(H5Sselect_none(file_space.get()));
      TASKREL_HDF5_CHECK(H5Sselect_none(memory_space.get()));
    } else {
      TASKREL_HDF5_CHECK(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start, nullptr, count, nullptr));
    }
    static float no_data;  // HDF5 wants a non-null buffer even for an empty selection
    TASKREL_HDF5_CHECK(H5Dread(data.get(), memory_type, memory_space.get(), file_space.get(), dxpl,
                               buffer != nullptr ? buffer : &no_data));
#ifdef TASKREL_PARALLEL_HDF5
    if (mpio) {
      H5D_mpio_actual_io_mode_t mode = H5D_MPIO_NO_COLLECTIVE;
      TASKREL_HDF5_CHECK(H5Pget_mpio_actual_io_mode(dxpl, &mode));
      return mode != H5D_MPIO_NO_COLLECTIVE;
    }
#endif
    return false;
  }

  // First row (global index) with a NaN/Inf and first row with a label outside
  // [0, num_classes), kNone when there is none.
  void find_bad_rows(const EmbeddingBlock& b, std::int64_t num_classes, long long* bad_value_row,
                     long long* bad_label_row, long long* bad_label) const {
    *bad_value_row = kNone;
    *bad_label_row = kNone;
    *bad_label = 0;
    for (std::int64_t r = 0; r < b.block.size() && *bad_value_row == kNone; ++r) {
      const float* row = b.embeddings.data() + r * b.dim;
      for (std::int64_t c = 0; c < b.dim; ++c) {
        if (!std::isfinite(row[c])) {
          *bad_value_row = b.block.begin + r;
          break;
        }
      }
    }
    for (std::int64_t r = 0; r < b.block.size(); ++r) {
      if (b.labels[r] < 0 || b.labels[r] >= num_classes) {
        *bad_label_row = b.block.begin + r;
        *bad_label = b.labels[r];
        break;
      }
    }
  }

  void report_bad_rows(const std::string& base, std::int64_t num_classes, long long bad_value_row,
                       long long bad_label_row, long long bad_label) const {
    if (bad_value_row != kNone)
      fail(base + "/embeddings", fmt::format("non-finite value (NaN/Inf) in row {}", bad_value_row));
    if (bad_label_row != kNone)
      fail(base + "/labels", fmt::format("label {} in row {} is outside [0, {}) (num_classes)", bad_label,
                                         bad_label_row, num_classes));
  }

  void report_empty_classes(const std::string& base, const SplitMeta& m, const std::vector<long long>& counts) const {
    for (std::size_t c = 0; c < counts.size(); ++c) {
      if (counts[c] == 0) {
        const std::string name = c < m.class_names.size() ? " ('" + m.class_names[c] + "')" : "";
        fail(base + "/labels", fmt::format("class {}{} has no rows (num_classes is {})", c, name, m.num_classes));
      }
    }
  }
};

EmbeddingStoreReader::EmbeddingStoreReader(const std::string& path) : state_(std::make_unique<State>()) {
  state_->open(path, nullptr);
}

EmbeddingStoreReader::EmbeddingStoreReader(const std::string& path, Communicator& comm)
    : state_(std::make_unique<State>()) {
  state_->open(path, &comm);
}

EmbeddingStoreReader::~EmbeddingStoreReader() = default;
EmbeddingStoreReader::EmbeddingStoreReader(EmbeddingStoreReader&&) noexcept = default;
EmbeddingStoreReader& EmbeddingStoreReader::operator=(EmbeddingStoreReader&&) noexcept = default;

const std::string& EmbeddingStoreReader::path() const { return state_->path; }

std::vector<std::string> EmbeddingStoreReader::encoders() const {
  std::vector<std::string> names;
  for (const auto& entry : state_->tree) names.push_back(entry.first);
  return names;
}

std::vector<std::string> EmbeddingStoreReader::datasets(const std::string& encoder) const {
  auto found = state_->tree.find(encoder);
  if (found == state_->tree.end()) state_->fail("/" + encoder, "no such encoder group");
  std::vector<std::string> names;
  for (const auto& entry : found->second) names.push_back(entry.first);
  return names;
}

std::vector<std::string> EmbeddingStoreReader::splits(const std::string& encoder, const std::string& dataset) const {
  datasets(encoder);  // reports a missing encoder
  const auto& datasets_of = state_->tree.at(encoder);
  auto found = datasets_of.find(dataset);
  if (found == datasets_of.end()) state_->fail("/" + encoder + "/" + dataset, "no such dataset group");
  std::vector<std::string> names;
  for (const auto& entry : found->second.splits) names.push_back(entry.first);
  return names;
}

std::optional<DatasetAttributes> EmbeddingStoreReader::dataset_attributes(const std::string& e,
                                                                          const std::string& d) const {
  auto encoder = state_->tree.find(e);
  if (encoder == state_->tree.end()) return std::nullopt;
  auto dataset = encoder->second.find(d);
  if (dataset == encoder->second.end()) return std::nullopt;
  return dataset->second.attributes;
}

SplitInfo EmbeddingStoreReader::split_metadata(const std::string& e, const std::string& d,
                                               const std::string& s) const {
  const SplitMeta& m = state_->meta(e, d, s);
  return SplitInfo{e, d, s, m.rows, m.dim, m.dtype, m.label_dtype, m.num_classes, m.class_names, {}};
}

bool EmbeddingStoreReader::has_split(const std::string& e, const std::string& d, const std::string& s) const {
  auto encoder = state_->tree.find(e);
  if (encoder == state_->tree.end()) return false;
  auto dataset = encoder->second.find(d);
  return dataset != encoder->second.end() && dataset->second.splits.count(s) > 0;
}

SplitInfo EmbeddingStoreReader::split_info(const std::string& e, const std::string& d, const std::string& s) const {
  const SplitMeta& m = state_->meta(e, d, s);
  SplitInfo info = split_metadata(e, d, s);
  // Labels only: a shard with dim 0 reads no embeddings.
  EmbeddingBlock labels;
  labels.block = RowBlock{0, m.rows};
  labels.labels.resize(static_cast<std::size_t>(m.rows));
  Hid dxpl(TASKREL_HDF5_CHECK(H5Pcreate(H5P_DATASET_XFER)), H5Pclose);
  state_->read_rows_of((split_path(e, d, s) + "/labels").c_str(), H5T_NATIVE_INT64, labels.block, 0,
                       labels.labels.data(), dxpl.get());
  long long bad_value_row, bad_label_row, bad_label;
  state_->find_bad_rows(labels, m.num_classes, &bad_value_row, &bad_label_row, &bad_label);
  state_->report_bad_rows(split_path(e, d, s), m.num_classes, kNone, bad_label_row, bad_label);
  std::vector<long long> counts(static_cast<std::size_t>(m.num_classes), 0);
  for (auto label : labels.labels) ++counts[static_cast<std::size_t>(label)];
  state_->report_empty_classes(split_path(e, d, s), m, counts);
  info.class_counts.assign(counts.begin(), counts.end());
  return info;
}

SplitInfo EmbeddingStoreReader::validate_split(const std::string& e, const std::string& d,
                                               const std::string& s) const {
  SplitInfo info = split_info(e, d, s);
  const std::int64_t block_rows = std::max<std::int64_t>(1, (std::int64_t{64} << 20) / (4 * std::max<std::int64_t>(1, info.dim)));
  for (std::int64_t begin = 0; begin < info.rows; begin += block_rows)
    read_rows(e, d, s, begin, std::min(info.rows, begin + block_rows));
  return info;
}

EmbeddingBlock EmbeddingStoreReader::read_rows(const std::string& e, const std::string& d, const std::string& s,
                                               std::int64_t begin, std::int64_t end) const {
  const SplitMeta& m = state_->meta(e, d, s);
  if (begin < 0 || begin > end || end > m.rows)
    state_->fail(split_path(e, d, s), fmt::format("rows [{}, {}) requested of {} rows", begin, end, m.rows));
  EmbeddingBlock block = state_->read(e, d, s, RowBlock{begin, end}, false);
  long long bad_value_row, bad_label_row, bad_label;
  state_->find_bad_rows(block, m.num_classes, &bad_value_row, &bad_label_row, &bad_label);
  state_->report_bad_rows(split_path(e, d, s), m.num_classes, bad_value_row, bad_label_row, bad_label);
  return block;
}

EmbeddingBlock EmbeddingStoreReader::read_shard(const std::string& e, const std::string& d, const std::string& s,
                                                Communicator& comm) const {
  const SplitMeta& m = state_->meta(e, d, s);
  const RowBlock block = shard_rows(m.rows, comm.rank(), comm.size());
  EmbeddingBlock out = state_->read(e, d, s, block, state_->mpio && state_->comm == &comm);

  // Agree on the first bad row across ranks so every rank reports the same error.
  long long bad[2];
  long long bad_label = 0;
  state_->find_bad_rows(out, m.num_classes, &bad[0], &bad[1], &bad_label);
  const long long mine = bad[1];
  comm.all_reduce(bad, 2, ReduceOp::kMin);
  long long label_of_first = (mine != kNone && mine == bad[1]) ? bad_label : 0;
  comm.all_reduce(&label_of_first, 1, ReduceOp::kSum);
  state_->report_bad_rows(split_path(e, d, s), m.num_classes, bad[0], bad[1], label_of_first);

  std::vector<long long> counts(static_cast<std::size_t>(m.num_classes), 0);
  for (auto label : out.labels) ++counts[static_cast<std::size_t>(label)];
  comm.all_reduce(counts.data(), counts.size(), ReduceOp::kSum);
  state_->report_empty_classes(split_path(e, d, s), m, counts);
  return out;
}

bool EmbeddingStoreReader::last_read_was_collective() const { return state_->last_collective; }

}  // namespace taskrel::io
