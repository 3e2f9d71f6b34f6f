// libFuzzer target: opening an HDF5 embedding store and reading it
// (io/embedding_store.h). Structure-aware: the input does not become the
// file's bytes -- libhdf5's own parser of arbitrary bytes is not taskrel's
// code, and is fuzzed by its project -- but decides a store written with the
// HDF5 API: group names, which objects are groups or datasets, dtypes,
// ranks, shapes, values (NaN, out-of-range labels), and the num_classes and
// class_names attributes of any type. taskrel's layout checks must answer
// each with an InputError naming the HDF5 path, never another exception.
#include <hdf5.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/embedding_store.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using taskrel::fuzz::ByteReader;

// HDF5 calls here build the fuzzed file; a failing call only makes the file
// smaller (HDF5 refuses, say, an empty name), which is still a valid input.
hid_t pick_type(ByteReader& in) {
  switch (in.pick(8)) {
    case 0: return H5T_NATIVE_FLOAT;
    case 1: return H5T_NATIVE_DOUBLE;
    case 2: return H5T_NATIVE_INT;
    case 3: return H5T_NATIVE_LLONG;
    case 4: return H5T_NATIVE_UCHAR;
    case 5: return H5T_NATIVE_SHORT;
    case 6: return H5T_NATIVE_UINT;
    default: return H5T_NATIVE_CHAR;
  }
}

void write_dataset(ByteReader& in, hid_t parent, const std::string& name) {
  const int rank = static_cast<int>(in.pick(4));  // 0 (scalar) .. 3
  hsize_t dims[3] = {1, 1, 1};
  hsize_t total = 1;
  for (int r = 0; r < rank; ++r) {
    dims[r] = in.pick(9);  // zero-sized too
    total *= dims[r];
  }
  const hid_t type = pick_type(in);
  const hid_t space = rank == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(rank, dims, nullptr);
  if (space < 0) return;
  const hid_t set = H5Dcreate2(parent, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (set >= 0) {
    std::vector<double> values(total);
    for (double& v : values) {
      switch (in.pick(4)) {
        case 0: v = in.number(); break;  // any bits: NaN, Inf, huge
        case 1: v = static_cast<double>(in.pick(5)) - 1.0; break;  // labels near the class range
        default: v = static_cast<double>(in.byte()) / 16.0; break;
      }
    }
    // HDF5 converts double to the stored type (overflow clips).
    if (total > 0) H5Dwrite(set, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data());
    H5Dclose(set);
  }
  H5Sclose(space);
}

void write_attribute(ByteReader& in, hid_t object, const char* name) {
  const unsigned kind = in.pick(4);
  if (kind == 0) return;
  if (kind == 3) {  // strings: class names, or a string where a number belongs
    const std::size_t count = in.pick(5);
    std::vector<std::string> texts;
    std::vector<const char*> pointers;
    for (std::size_t i = 0; i < count; ++i) texts.push_back(in.text(6));
    for (const auto& t : texts) pointers.push_back(t.c_str());
    const hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    const hsize_t n = count;
    const hid_t space = count == 1 && in.pick(2) ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, nullptr);
    const hid_t attribute = H5Acreate2(object, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    if (attribute >= 0) {
      if (count > 0) H5Awrite(attribute, type, pointers.data());
      H5Aclose(attribute);
    }
    H5Sclose(space);
    H5Tclose(type);
    return;
  }
  const hsize_t n = kind == 1 ? 1 : in.pick(4);
  const hid_t space = kind == 1 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, nullptr);
  const hid_t attribute = H5Acreate2(object, name, pick_type(in), space, H5P_DEFAULT, H5P_DEFAULT);
  if (attribute >= 0) {
    std::vector<double> values(std::max<hsize_t>(n, 1));
    for (double& v : values) v = in.pick(2) ? static_cast<double>(in.pick(12)) - 2.0 : in.number();
    if (kind == 1 || n > 0) H5Awrite(attribute, H5T_NATIVE_DOUBLE, values.data());
    H5Aclose(attribute);
  }
  H5Sclose(space);
}

std::string pick_name(ByteReader& in, const std::vector<const char*>& usual) {
  if (in.pick(8) == 0) return in.text(5);  // odd names: empty, '/', '.partial-', bytes
  return usual[in.pick(static_cast<unsigned>(usual.size()))];
}

void write_store(ByteReader& in, const std::string& path) {
  const hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (file < 0) std::abort();
  const unsigned encoders = in.pick(3);
  for (unsigned e = 0; e < encoders; ++e) {
    const std::string encoder = pick_name(in, {"enc", "enc2", ".partial-x"});
    if (in.pick(8) == 0) { write_dataset(in, file, encoder); continue; }  // a dataset where a group belongs
    const hid_t encoder_group = H5Gcreate2(file, encoder.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (encoder_group < 0) continue;
    const unsigned datasets = in.pick(3);
    for (unsigned d = 0; d < datasets; ++d) {
      const std::string dataset = pick_name(in, {"alpha", "beta", "head"});
      if (in.pick(8) == 0) { write_dataset(in, encoder_group, dataset); continue; }
      const hid_t dataset_group = H5Gcreate2(encoder_group, dataset.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
      if (dataset_group < 0) continue;
      write_attribute(in, dataset_group, "num_classes");
      write_attribute(in, dataset_group, "class_names");
      const unsigned splits = in.pick(3);
      for (unsigned s = 0; s < splits; ++s) {
        const std::string split = pick_name(in, {"train", "test", "head"});
        if (in.pick(8) == 0) { write_dataset(in, dataset_group, split); continue; }
        const hid_t split_group = H5Gcreate2(dataset_group, split.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (split_group < 0) continue;
        for (const char* member : {"embeddings", "labels"})
          if (in.pick(6) != 0) write_dataset(in, split_group, pick_name(in, {member, member, "weight", "bias"}));
        H5Gclose(split_group);
      }
      H5Gclose(dataset_group);
    }
    H5Gclose(encoder_group);
  }
  H5Fclose(file);
}

void read_everything(const std::string& path) {
  const taskrel::io::EmbeddingStoreReader store(path);
  for (const auto& encoder : store.encoders())
    for (const auto& dataset : store.datasets(encoder)) {
      (void)store.dataset_attributes(encoder, dataset);
      for (const auto& split : store.splits(encoder, dataset)) {
        try {
          const auto info = store.validate_split(encoder, dataset, split);
          (void)store.read_rows(encoder, dataset, split, 0, info.rows);
          (void)store.read_rows(encoder, dataset, split, info.rows / 2, info.rows);
        } catch (const taskrel::InputError&) {
        }
      }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool quiet = [] { return H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr) >= 0; }();
  (void)quiet;
  ByteReader in(data, size);
  const std::string path = taskrel::fuzz::scratch_path("store.h5");
  write_store(in, path);
  try { read_everything(path); } catch (const taskrel::InputError&) {}
  return 0;
}
