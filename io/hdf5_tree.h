// Small helpers over the HDF5 C API used by the embedding store: listing child
// groups, testing whether a path exists, reading and writing the dataset
// group's attributes. All calls are checked (hdf5_check.h).
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace taskrel::io {

// Names of the child *groups* of `group`, in name order.
std::vector<std::string> child_groups(hid_t group);

// Whether the link `name` (one component) exists in `group` and its target
// is a group / a dataset.
bool has_group(hid_t group, const std::string& name);
bool has_dataset(hid_t group, const std::string& name);

// Integer scalar attribute, or nullopt when absent. InputError-worthy
// problems (wrong class, not scalar) are reported as `problem`.
std::optional<std::int64_t> read_integer_attribute(hid_t object, const std::string& name, std::string* problem);

// 1-D string attribute (variable- or fixed-length), or nullopt when absent.
std::optional<std::vector<std::string>> read_string_list_attribute(hid_t object, const std::string& name,
                                                                   std::string* problem);

void write_integer_attribute(hid_t object, const std::string& name, std::int64_t value);
// Written as h5py writes a list of str: 1-D variable-length UTF-8 strings.
void write_string_list_attribute(hid_t object, const std::string& name, const std::vector<std::string>& values);

}  // namespace taskrel::io
