#include "io/head_reader.h"

#include <hdf5.h>

#include <cmath>

#include <fmt/format.h>

#include "core/error.h"
#include "io/hdf5_check.h"
#include "io/hdf5_tree.h"
#include "io/whole_file.h"

namespace taskrel::io {

namespace {

std::vector<float> read_float_dataset(hid_t group, const std::string& name, const std::string& where,
                                      std::vector<hsize_t>& shape) {
  if (!has_dataset(group, name)) throw InputError(fmt::format("{}/{} is missing", where, name));
  Hid dataset(TASKREL_HDF5_CHECK(H5Dopen2(group, name.c_str(), H5P_DEFAULT)), H5Dclose);
  Hid type(TASKREL_HDF5_CHECK(H5Dget_type(dataset.get())), H5Tclose);
  if (H5Tget_class(type.get()) != H5T_FLOAT)
    throw InputError(fmt::format("{}/{} is not a float dataset", where, name));
  Hid space(TASKREL_HDF5_CHECK(H5Dget_space(dataset.get())), H5Sclose);
  const int rank = TASKREL_HDF5_CHECK(H5Sget_simple_extent_ndims(space.get()));
  shape.assign(static_cast<std::size_t>(rank), 0);
  if (rank > 0) TASKREL_HDF5_CHECK(H5Sget_simple_extent_dims(space.get(), shape.data(), nullptr));
  hsize_t count = 1;
  for (auto s : shape) count *= s;
  std::vector<float> values(count);
  if (count > 0)
    TASKREL_HDF5_CHECK(H5Dread(dataset.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()));
  for (std::size_t i = 0; i < values.size(); ++i)
    if (!std::isfinite(values[i]))
      throw InputError(fmt::format("{}/{}: value {} is not finite ({})", where, name, i, values[i]));
  return values;
}

}  // namespace

std::optional<StoredHead> read_stored_head(const std::string& store_path, const std::string& encoder,
                                           const std::string& dataset) {
  silence_hdf5_errors();
  require_regular_file(store_path, "HDF5 stores");
  Hid file(H5Fopen(store_path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!file) throw InputError(fmt::format("{}: cannot open as HDF5 ({})", store_path, last_hdf5_error()));
  if (!has_group(file.get(), encoder)) return std::nullopt;
  Hid enc(TASKREL_HDF5_CHECK(H5Gopen2(file.get(), encoder.c_str(), H5P_DEFAULT)), H5Gclose);
  if (!has_group(enc.get(), dataset)) return std::nullopt;
  Hid data(TASKREL_HDF5_CHECK(H5Gopen2(enc.get(), dataset.c_str(), H5P_DEFAULT)), H5Gclose);
  if (!has_group(data.get(), "head")) return std::nullopt;
  Hid head(TASKREL_HDF5_CHECK(H5Gopen2(data.get(), "head", H5P_DEFAULT)), H5Gclose);
  const std::string where = fmt::format("{}: /{}/{}/head", store_path, encoder, dataset);
  StoredHead out;
  std::vector<hsize_t> wshape, bshape;
  out.weight = read_float_dataset(head.get(), "weight", where, wshape);
  out.bias = read_float_dataset(head.get(), "bias", where, bshape);
  if (wshape.size() != 2) throw InputError(fmt::format("{}/weight must be 2-D (K x d), has rank {}", where, wshape.size()));
  if (bshape.size() != 1 || bshape[0] != wshape[0])
    throw InputError(fmt::format("{}/bias must be 1-D with {} entries (one per weight row)", where, wshape[0]));
  out.classes = static_cast<std::int64_t>(wshape[0]);
  out.dim = static_cast<std::int64_t>(wshape[1]);
  return out;
}

}  // namespace taskrel::io
