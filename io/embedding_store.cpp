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
#include "io/row_checks.h"
#include "io/store_layout.h"
#include "io/whole_file.h"

namespace taskrel::io {

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
    require_regular_file(path, "HDF5 stores");
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
    tree = scan_store_layout(file.get(), path);
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
  report_bad_rows(state_->path, split_path(e, d, s), m.num_classes, find_bad_rows(labels, m.num_classes));
  std::vector<long long> counts(static_cast<std::size_t>(m.num_classes), 0);
  for (auto label : labels.labels) ++counts[static_cast<std::size_t>(label)];
  report_empty_classes(state_->path, split_path(e, d, s), m, counts);
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
  report_bad_rows(state_->path, split_path(e, d, s), m.num_classes, find_bad_rows(block, m.num_classes));
  return block;
}

EmbeddingBlock EmbeddingStoreReader::read_shard(const std::string& e, const std::string& d, const std::string& s,
                                                Communicator& comm) const {
  const SplitMeta& m = state_->meta(e, d, s);
  const RowBlock block = shard_rows(m.rows, comm.rank(), comm.size());
  EmbeddingBlock out = state_->read(e, d, s, block, state_->mpio && state_->comm == &comm);

  // Agree on the first bad row across ranks so every rank reports the same error.
  const BadRows mine = find_bad_rows(out, m.num_classes);
  long long first[2] = {mine.value_row, mine.label_row};
  comm.all_reduce(first, 2, ReduceOp::kMin);
  long long label_of_first = (mine.label_row != kNoRow && mine.label_row == first[1]) ? mine.label : 0;
  comm.all_reduce(&label_of_first, 1, ReduceOp::kSum);
  report_bad_rows(state_->path, split_path(e, d, s), m.num_classes, BadRows{first[0], first[1], label_of_first});

  std::vector<long long> counts(static_cast<std::size_t>(m.num_classes), 0);
  for (auto label : out.labels) ++counts[static_cast<std::size_t>(label)];
  comm.all_reduce(counts.data(), counts.size(), ReduceOp::kSum);
  report_empty_classes(state_->path, split_path(e, d, s), m, counts);
  return out;
}

bool EmbeddingStoreReader::last_read_was_collective() const { return state_->last_collective; }

}  // namespace taskrel::io
