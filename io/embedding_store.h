// The embedding store: one HDF5 file holding the embeddings of an encoder zoo,
// readable with h5py as it is (DESIGN.md section 3):
//
//   /<encoder>/<dataset>/<split>/embeddings   float16/32/64, rows x dim, chunked by rows
//   /<encoder>/<dataset>/<split>/labels       int32/int64, rows
//   /<encoder>/<dataset>  attributes num_classes (int), class_names (optional, vlen str)
//   /<encoder>/<dataset>/head/{weight,bias}   optional; "head" is never a split
//
// Invariants checked when a store is opened (metadata only, cheap): every
// split has both datasets, embeddings are 2-D float of 2/4/8 bytes, labels are
// 1-D integers with one per row, num_classes is a positive integer, there are
// num_classes class names when names exist, and all splits of an encoder share
// one dimension. Checked when rows are read: NaN/Inf, labels in
// [0, num_classes), no empty class. Every violation is an InputError naming
// the file, the HDF5 path and the problem.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "comm/row_blocks.h"

namespace taskrel::io {

// What one split holds (class_counts needs the labels read: see split_info).
struct SplitInfo {
  std::string encoder, dataset, split;
  std::int64_t rows = 0;
  std::int64_t dim = 0;
  std::string dtype;  // stored embedding dtype: float16, float32 or float64
  std::string label_dtype;  // int32 or int64 (or another integer width)
  std::int64_t num_classes = 0;
  std::vector<std::string> class_names;  // empty when the store has none
  std::vector<std::int64_t> class_counts;  // rows per class
};

// The attributes of a dataset group.
struct DatasetAttributes {
  std::int64_t num_classes = 0;
  std::vector<std::string> class_names;  // empty when the store has none
};

// Rows [block.begin, block.end) of one split, converted to float32 / int64.
struct EmbeddingBlock {
  RowBlock block;
  std::int64_t dim = 0;
  std::vector<float> embeddings;  // row-major, block.size() x dim
  std::vector<std::int64_t> labels;
};

class EmbeddingStoreReader {
 public:
  // Opens `path` read-only for one process and validates its structure.
  explicit EmbeddingStoreReader(const std::string& path);
  // Collective over `comm`: with parallel HDF5 the file is opened with the
  // MPI-IO driver so read_shard can read collectively. `comm` must outlive
  // the reader.
  EmbeddingStoreReader(const std::string& path, Communicator& comm);
  ~EmbeddingStoreReader();
  EmbeddingStoreReader(EmbeddingStoreReader&&) noexcept;
  EmbeddingStoreReader& operator=(EmbeddingStoreReader&&) noexcept;

  const std::string& path() const;
  std::vector<std::string> encoders() const;
  std::vector<std::string> datasets(const std::string& encoder) const;
  std::vector<std::string> splits(const std::string& encoder, const std::string& dataset) const;
  bool has_split(const std::string& encoder, const std::string& dataset, const std::string& split) const;

  // The dataset group's attributes; nullopt when there is no such group.
  std::optional<DatasetAttributes> dataset_attributes(const std::string& encoder, const std::string& dataset) const;

  // Metadata from the open-time scan, without class counts (no data read).
  SplitInfo split_metadata(const std::string& encoder, const std::string& dataset, const std::string& split) const;

  // Metadata plus class counts; reads and validates all labels of the split.
  SplitInfo split_info(const std::string& encoder, const std::string& dataset, const std::string& split) const;

  // Reads the whole split in blocks of about 64 MiB and checks every value
  // (NaN/Inf, label range, empty classes); returns split_info's result.
  SplitInfo validate_split(const std::string& encoder, const std::string& dataset, const std::string& split) const;

  // Rows [begin, end) by this process alone (independent I/O), validated.
  EmbeddingBlock read_rows(const std::string& encoder, const std::string& dataset, const std::string& split,
                           std::int64_t begin, std::int64_t end) const;

  // This rank's shard_rows block of the split. Collective: every rank of
  // `comm` must call it (empty blocks included). With parallel HDF5 and a
  // reader opened on `comm` the reads use collective MPI-IO. Validation
  // (NaN/Inf, label range, empty classes) is global: every rank throws the
  // same InputError.
  EmbeddingBlock read_shard(const std::string& encoder, const std::string& dataset, const std::string& split,
                            Communicator& comm) const;

  // Whether the most recent read on this rank used collective MPI-IO for
  // both embeddings and labels (always false with serial HDF5).
  bool last_read_was_collective() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Where import_split puts a split and how.
struct SplitTarget {
  std::string encoder, dataset, split;
  bool overwrite = false;  // replace an existing split (and only it)
  // What the arrays came from, for messages (e.g. "X.npy").
  std::string embeddings_source = "embeddings";
  std::string labels_source = "labels";
};

// What import_split will do, decided from the input and the store as it is.
struct ImportPlan {
  std::int64_t num_classes = 0;    // the dataset's num_classes after the import
  bool write_num_classes = false;  // the dataset group gets its num_classes now
  bool write_class_names = false;  // ... and its class names
  bool replaces = false;           // an existing split is replaced (overwrite)
};

// Every check import_split makes, without opening the store for writing:
// throws the InputError import_split would throw. `import --manifest` runs it
// on all entries before it writes any.
ImportPlan plan_import(const std::string& path, const SplitTarget& target, const std::vector<float>& embeddings,
                       std::int64_t rows, std::int64_t dim, const std::vector<std::int64_t>& labels,
                       std::int64_t num_classes, const std::vector<std::string>& class_names);

// Group names starting with this are splits being written: import_split
// writes a split under it and renames it into place only when it is complete,
// so a reader never sees half a split; readers skip such groups.
inline constexpr const char* kPartialSplitPrefix = ".partial-";

// Adds one split to the store at `path` (created if missing), in place.
// Everything is validated first (NaN/Inf, labels in [0, num_classes), no
// empty class, dimension and num_classes/class_names consistent with what the
// store already holds, no existing split unless overwrite) and the file is
// only opened for writing after all checks passed, so a failed import leaves
// the store as it was. num_classes <= 0 means: the dataset's existing
// attribute, else max label + 1. Empty class_names means keep existing names
// (or none). Writes float32 embeddings chunked by rows and int64 labels,
// under a kPartialSplitPrefix name first, renamed into place when complete;
// an error while writing removes the partial group again. Returns the plan
// it followed (plan_import's).
ImportPlan import_split(const std::string& path, const SplitTarget& target, const std::vector<float>& embeddings,
                  std::int64_t rows, std::int64_t dim, const std::vector<std::int64_t>& labels,
                  std::int64_t num_classes, const std::vector<std::string>& class_names);

}  // namespace taskrel::io
