// What `taskrel import` reads: one split's sources (an .npy, or a member of an
// .npz), a class-names file, and the manifest of many imports, a CSV file
//
//   encoder,dataset,split,embeddings,labels[,class_names][,num_classes]
//
// one row per split; `embeddings` and `labels` are X.npy or X.npz:member,
// `class_names` a text file with one name per line, `num_classes` a positive
// integer (both optional, per row). Relative paths are relative to the
// manifest's folder, so a manifest travels with its files. Unknown columns
// and repeated (encoder, dataset, split) rows are errors naming the lines.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/embedding_store.h"

namespace taskrel::io {

// A file, or an .npz archive and one member in it.
struct ArraySource {
  std::string file;
  std::string member;  // empty for an .npy
  std::string spec() const { return member.empty() ? file : file + ":" + member; }
};

// "X.npy", "X.npz:member", or "X.npz" with the member given apart (`key`,
// from `key_flag` such as --embeddings-key); an .npz without a member, or a
// member named twice, is an InputError.
ArraySource array_source(const std::string& spec, const std::string& key = "", const char* key_flag = "");

// One class name per line (CR/LF and blank lines ignored); none is an error.
std::vector<std::string> read_class_names_file(const std::string& path);

// One import: where it goes and what it reads.
struct ImportEntry {
  std::string where;  // for messages: "manifest.csv line 7" (empty for a single import)
  SplitTarget target;
  ArraySource embeddings, labels;
  std::string class_names_file;  // empty: none
  std::int64_t num_classes = 0;  // 0: the store's, else max label + 1
};

// Reads and checks a manifest (syntax, columns, duplicates; not the files).
// Every entry gets `overwrite`.
std::vector<ImportEntry> read_import_manifest(const std::string& path, bool overwrite);

// The arrays of one entry, read (values checked by the readers).
struct LoadedImport {
  std::vector<float> embeddings;
  std::int64_t rows = 0, dim = 0;
  std::vector<std::int64_t> labels;
  std::vector<std::string> class_names;
  ImportPlan plan;  // set by load_import only
};
LoadedImport read_import(const ImportEntry& entry);

// read_import, then plan_import against the store at `store_path`: every
// check import_split makes, without writing.
LoadedImport load_import(const std::string& store_path, const ImportEntry& entry);

// read_import, then import_split (which plans, checks and writes once);
// returns the plan it followed.
ImportPlan write_import(const std::string& store_path, const ImportEntry& entry);

}  // namespace taskrel::io
