// See hdf5_tree.h.
#include "io/hdf5_tree.h"

#include <cstdlib>

#include "io/hdf5_check.h"

namespace taskrel::io {
namespace {

herr_t collect_group(hid_t group, const char* name, const H5L_info_t* info, void* data) {
  if (info->type != H5L_TYPE_HARD) return 0;  // soft/external links are not part of the layout
  H5O_info_t object;
  if (H5Oget_info_by_name(group, name, &object, H5P_DEFAULT) < 0) return -1;
  if (object.type == H5O_TYPE_GROUP) static_cast<std::vector<std::string>*>(data)->push_back(name);
  return 0;
}

bool has_object(hid_t group, const std::string& name, H5O_type_t type) {
  if (TASKREL_HDF5_CHECK(H5Lexists(group, name.c_str(), H5P_DEFAULT)) <= 0) return false;
  H5O_info_t object;
  TASKREL_HDF5_CHECK(H5Oget_info_by_name(group, name.c_str(), &object, H5P_DEFAULT));
  return object.type == type;
}

}  // namespace

std::vector<std::string> child_groups(hid_t group) {
  std::vector<std::string> names;
  hsize_t index = 0;
  TASKREL_HDF5_CHECK(H5Literate(group, H5_INDEX_NAME, H5_ITER_INC, &index, collect_group, &names));
  return names;
}

bool has_group(hid_t group, const std::string& name) { return has_object(group, name, H5O_TYPE_GROUP); }
bool has_dataset(hid_t group, const std::string& name) { return has_object(group, name, H5O_TYPE_DATASET); }

std::optional<std::int64_t> read_integer_attribute(hid_t object, const std::string& name, std::string* problem) {
  if (TASKREL_HDF5_CHECK(H5Aexists(object, name.c_str())) <= 0) return std::nullopt;
  Hid attribute(TASKREL_HDF5_CHECK(H5Aopen(object, name.c_str(), H5P_DEFAULT)), H5Aclose);
  Hid type(TASKREL_HDF5_CHECK(H5Aget_type(attribute.get())), H5Tclose);
  Hid space(TASKREL_HDF5_CHECK(H5Aget_space(attribute.get())), H5Sclose);
  if (H5Tget_class(type.get()) != H5T_INTEGER || TASKREL_HDF5_CHECK(H5Sget_simple_extent_npoints(space.get())) != 1) {
    *problem = "attribute " + name + " is not an integer scalar";
    return std::nullopt;
  }
  std::int64_t value = 0;
  TASKREL_HDF5_CHECK(H5Aread(attribute.get(), H5T_NATIVE_INT64, &value));
  return value;
}

std::optional<std::vector<std::string>> read_string_list_attribute(hid_t object, const std::string& name,
                                                                   std::string* problem) {
  if (TASKREL_HDF5_CHECK(H5Aexists(object, name.c_str())) <= 0) return std::nullopt;
  Hid attribute(TASKREL_HDF5_CHECK(H5Aopen(object, name.c_str(), H5P_DEFAULT)), H5Aclose);
  Hid type(TASKREL_HDF5_CHECK(H5Aget_type(attribute.get())), H5Tclose);
  Hid space(TASKREL_HDF5_CHECK(H5Aget_space(attribute.get())), H5Sclose);
  const int rank = TASKREL_HDF5_CHECK(H5Sget_simple_extent_ndims(space.get()));
  if (H5Tget_class(type.get()) != H5T_STRING || rank > 1) {
    *problem = "attribute " + name + " is not a list of strings";
    return std::nullopt;
  }
  const auto count = static_cast<std::size_t>(TASKREL_HDF5_CHECK(H5Sget_simple_extent_npoints(space.get())));
  std::vector<std::string> values;
  if (count == 0) return values;  // H5Aread refuses the empty buffer (found by tests/fuzz: fuzz_store)
  if (TASKREL_HDF5_CHECK(H5Tis_variable_str(type.get())) > 0) {
    Hid memory(TASKREL_HDF5_CHECK(H5Tcopy(H5T_C_S1)), H5Tclose);
    TASKREL_HDF5_CHECK(H5Tset_size(memory.get(), H5T_VARIABLE));
    TASKREL_HDF5_CHECK(H5Tset_cset(memory.get(), H5Tget_cset(type.get())));
    std::vector<char*> raw(count, nullptr);
    TASKREL_HDF5_CHECK(H5Aread(attribute.get(), memory.get(), raw.data()));
    for (char* s : raw) values.emplace_back(s != nullptr ? s : "");
    TASKREL_HDF5_CHECK(H5Dvlen_reclaim(memory.get(), space.get(), H5P_DEFAULT, raw.data()));
  } else {
    const std::size_t width = H5Tget_size(type.get());  // bounded by the attribute's own storage
    std::vector<char> raw(count * width);
    TASKREL_HDF5_CHECK(H5Aread(attribute.get(), type.get(), raw.data()));
    for (std::size_t i = 0; i < count; ++i) {
      std::string s(raw.data() + i * width, width);
      s.erase(s.find_last_not_of('\0') + 1);
      values.push_back(s);
    }
  }
  return values;
}

void write_integer_attribute(hid_t object, const std::string& name, std::int64_t value) {
  if (TASKREL_HDF5_CHECK(H5Aexists(object, name.c_str())) > 0) TASKREL_HDF5_CHECK(H5Adelete(object, name.c_str()));
  Hid space(TASKREL_HDF5_CHECK(H5Screate(H5S_SCALAR)), H5Sclose);
  Hid attribute(TASKREL_HDF5_CHECK(H5Acreate2(object, name.c_str(), H5T_STD_I64LE, space.get(), H5P_DEFAULT,
                                              H5P_DEFAULT)),
                H5Aclose);
  TASKREL_HDF5_CHECK(H5Awrite(attribute.get(), H5T_NATIVE_INT64, &value));
}

void write_string_list_attribute(hid_t object, const std::string& name, const std::vector<std::string>& values) {
  if (TASKREL_HDF5_CHECK(H5Aexists(object, name.c_str())) > 0) TASKREL_HDF5_CHECK(H5Adelete(object, name.c_str()));
  Hid type(TASKREL_HDF5_CHECK(H5Tcopy(H5T_C_S1)), H5Tclose);
  TASKREL_HDF5_CHECK(H5Tset_size(type.get(), H5T_VARIABLE));
  TASKREL_HDF5_CHECK(H5Tset_cset(type.get(), H5T_CSET_UTF8));
  const hsize_t count = values.size();
  Hid space(TASKREL_HDF5_CHECK(H5Screate_simple(1, &count, nullptr)), H5Sclose);
  Hid attribute(TASKREL_HDF5_CHECK(H5Acreate2(object, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT)),
                H5Aclose);
  std::vector<const char*> raw;
  for (const auto& v : values) raw.push_back(v.c_str());
  TASKREL_HDF5_CHECK(H5Awrite(attribute.get(), type.get(), raw.data()));
}

}  // namespace taskrel::io
