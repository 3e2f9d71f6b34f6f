// Room for a write, checked before a file is touched: a store that must not
// be left half changed (taskrel import, build-zoo) is only opened for writing
// once the bytes the new split needs fit both under the process's file-size
// limit (RLIMIT_FSIZE, `ulimit -f`) and in the free space of the file
// system. Refusing up front is what keeps the store byte for byte as it was;
// a write that fails anyway (another process filling the disk meanwhile) is
// handled by the writer (embedding_store.h: the partial split is removed).
#pragma once

#include <cstdint>
#include <string>

namespace taskrel::io {

// RuntimeError naming `path`, `what`, the bytes needed and the limit that is
// short, when `bytes` more cannot be written to the file at `path` (it may
// not exist yet; its folder must).
void require_room_for(const std::string& path, std::uint64_t bytes, const std::string& what);

// The bytes a split of rows x dim float32 embeddings and int64 labels adds to
// a store: the data, plus HDF5's chunk index and headers with a margin.
std::uint64_t split_bytes_needed(std::int64_t rows, std::int64_t dim);

}  // namespace taskrel::io
