#include "io/result_store.h"

#include <hdf5.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <fmt/format.h>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/hdf5_check.h"
#include "io/hdf5_tree.h"

namespace taskrel::io {

namespace {

// The bound and its terms first, as users read them; the rest alphabetical.
const std::vector<std::string> kHeadline = {"relatedness",    "reweighted_loss", "label_mismatch",
                                            "distribution_mismatch", "tau",      "target_loss",
                                            "target_accuracy", "prior_mismatch"};

void flatten_into(const nlohmann::json& value, const std::string& prefix,
                  std::vector<std::pair<std::string, nlohmann::json>>& out) {
  for (const auto& [key, item] : value.items()) {
    const std::string name = prefix.empty() ? key : prefix + "_" + key;
    if (item.is_object()) flatten_into(item, name, out);
    else if (!item.is_array()) out.emplace_back(name, item);
  }
}

std::string csv_field(const nlohmann::json& value) {
  std::string text;
  if (value.is_null()) return "";
  if (value.is_string()) text = value.get<std::string>();
  else text = value.dump();
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

void write_string_attribute(hid_t object, const std::string& name, const std::string& value) {
  Hid type(TASKREL_HDF5_CHECK(H5Tcopy(H5T_C_S1)), H5Tclose);
  TASKREL_HDF5_CHECK(H5Tset_size(type.get(), H5T_VARIABLE));
  TASKREL_HDF5_CHECK(H5Tset_cset(type.get(), H5T_CSET_UTF8));
  Hid space(TASKREL_HDF5_CHECK(H5Screate(H5S_SCALAR)), H5Sclose);
  Hid attribute(TASKREL_HDF5_CHECK(H5Acreate2(object, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT)),
                H5Aclose);
  const char* raw = value.c_str();
  TASKREL_HDF5_CHECK(H5Awrite(attribute.get(), type.get(), &raw));
}

void write_double_attribute(hid_t object, const std::string& name, double value) {
  Hid space(TASKREL_HDF5_CHECK(H5Screate(H5S_SCALAR)), H5Sclose);
  Hid attribute(TASKREL_HDF5_CHECK(H5Acreate2(object, name.c_str(), H5T_IEEE_F64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT)),
                H5Aclose);
  TASKREL_HDF5_CHECK(H5Awrite(attribute.get(), H5T_NATIVE_DOUBLE, &value));
}

template <typename T>
void write_array(hid_t parent, const std::string& name, const std::vector<hsize_t>& shape, const T* data,
                 hid_t file_type, hid_t memory_type) {
  Hid space(TASKREL_HDF5_CHECK(H5Screate_simple(static_cast<int>(shape.size()), shape.data(), nullptr)), H5Sclose);
  Hid link_properties(TASKREL_HDF5_CHECK(H5Pcreate(H5P_LINK_CREATE)), H5Pclose);
  TASKREL_HDF5_CHECK(H5Pset_create_intermediate_group(link_properties.get(), 1));
  Hid dataset(TASKREL_HDF5_CHECK(H5Dcreate2(parent, name.c_str(), file_type, space.get(), link_properties.get(),
                                            H5P_DEFAULT, H5P_DEFAULT)),
              H5Dclose);
  TASKREL_HDF5_CHECK(H5Dwrite(dataset.get(), memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data));
  TASKREL_HDF5_CHECK(H5Dclose(dataset.release()));  // a write HDF5 deferred fails here
}

}  // namespace

std::vector<std::pair<std::string, nlohmann::json>> flatten_scalars(const nlohmann::json& result) {
  std::vector<std::pair<std::string, nlohmann::json>> out;
  if (result.is_object()) flatten_into(result, "", out);
  return out;
}

void write_relatedness_csv(const std::string& path, const std::vector<nlohmann::json>& records) {
  std::vector<std::map<std::string, nlohmann::json>> rows;
  std::set<std::string> names;
  for (const auto& record : records) {
    std::map<std::string, nlohmann::json> row;
    if (record.contains("result"))
      for (auto& [key, value] : flatten_scalars(record["result"])) {
        row[key] = value;
        names.insert(key);
      }
    for (const char* key : {"encoder", "reference", "target", "status", "error"})
      row[key] = record.contains(key) ? record[key] : nlohmann::json();
    rows.push_back(std::move(row));
  }
  std::vector<std::string> columns = {"encoder", "reference", "target", "status", "error"};
  for (const auto& name : kHeadline)
    if (names.count(name) != 0) columns.push_back(name);
  for (const auto& name : names)
    if (std::find(columns.begin(), columns.end(), name) == columns.end()) columns.push_back(name);

  PendingFile pending(path);
  {
    errno = 0;
    std::ofstream out(pending.temporary(), std::ios::trunc);
    if (!out) throw_write_failed(pending.temporary(), "creating");
    for (std::size_t c = 0; c < columns.size(); ++c) out << (c ? "," : "") << columns[c];
    out << "\n";
    for (const auto& row : rows) {
      for (std::size_t c = 0; c < columns.size(); ++c) {
        const auto it = row.find(columns[c]);
        out << (c ? "," : "") << (it == row.end() ? std::string() : csv_field(it->second));
      }
      out << "\n";
    }
    out.close();
    if (!out) throw_write_failed(pending.temporary(), "writing");
  }
  pending.commit();
}

void write_relatedness_h5(const std::string& path, const MatrixAxes& axes, const std::vector<nlohmann::json>& records,
                          const nlohmann::json& attributes) {
  silence_hdf5_errors();
  const std::size_t ne = axes.encoders.size(), nr = axes.references.size(), nt = axes.targets.size();
  const std::size_t cells = ne * nr * nt;
  auto index_of = [](const std::vector<std::string>& axis, const std::string& name) -> std::ptrdiff_t {
    const auto it = std::find(axis.begin(), axis.end(), name);
    return it == axis.end() ? -1 : it - axis.begin();
  };
  constexpr double kFill = 0.0;
  std::map<std::string, std::vector<double>> quantities;
  std::vector<unsigned char> done(cells, 0), failed(cells, 0);
  struct Fitted {
    std::string name;
    std::vector<double> B, D;
    hsize_t rows = 0, cols = 0;
  };
  std::vector<Fitted> fitted;
  for (const auto& record : records) {
    const auto e = index_of(axes.encoders, record.value("encoder", std::string()));
    const auto r = index_of(axes.references, record.value("reference", std::string()));
    const auto t = index_of(axes.targets, record.value("target", std::string()));
    if (e < 0 || r < 0 || t < 0) continue;
    const std::size_t cell = (static_cast<std::size_t>(e) * nr + static_cast<std::size_t>(r)) * nt + static_cast<std::size_t>(t);
    if (record.value("status", std::string()) != "ok") {
      failed[cell] = 1;
      continue;
    }
    done[cell] = 1;
    const nlohmann::json& result = record.at("result");
    for (const auto& [key, value] : flatten_scalars(result)) {
      if (!value.is_number() && !value.is_boolean()) continue;
      auto [it, fresh] = quantities.try_emplace(key);
      if (fresh) it->second.assign(cells, kFill);
      it->second[cell] = value.is_boolean() ? (value.get<bool>() ? 1.0 : 0.0) : value.get<double>();
    }
    Fitted f;
    f.name = record.value("encoder", std::string()) + "/" + record.value("reference", std::string()) + "/" +
             record.value("target", std::string());
    if (result.contains("B") && result["B"].is_array()) {
      f.rows = result["B"].size();
      for (const auto& row : result["B"]) {
        f.cols = row.size();
        for (const auto& v : row) f.B.push_back(v.is_number() ? v.get<double>() : kFill);
      }
    }
    if (result.contains("D") && result["D"].is_array())
      for (const auto& v : result["D"]) f.D.push_back(v.is_number() ? v.get<double>() : kFill);
    fitted.push_back(std::move(f));
  }

  PendingFile pending(path);
  try {
    Hid file(TASKREL_HDF5_CHECK(H5Fcreate(pending.temporary().c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT)),
             H5Fclose);
    const hid_t root = file.get();
    write_string_list_attribute(root, "encoders", axes.encoders);
    write_string_list_attribute(root, "references", axes.references);
    write_string_list_attribute(root, "targets", axes.targets);
    write_double_attribute(root, "fill_value", kFill);
    for (const auto& [key, value] : attributes.items()) {
      if (value.is_string()) write_string_attribute(root, key, value.get<std::string>());
      else if (value.is_number()) write_double_attribute(root, key, value.get<double>());
      else write_string_attribute(root, key, value.dump());
    }
    const std::vector<hsize_t> shape = {ne, nr, nt};
    write_array(root, "done", shape, done.data(), H5T_STD_U8LE, H5T_NATIVE_UCHAR);
    write_array(root, "failed", shape, failed.data(), H5T_STD_U8LE, H5T_NATIVE_UCHAR);
    for (const auto& [key, values] : quantities)
      write_array(root, key, shape, values.data(), H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE);
    for (const auto& f : fitted) {
      if (!f.B.empty() && f.B.size() == f.rows * f.cols)
        write_array(root, "B/" + f.name, {f.rows, f.cols}, f.B.data(), H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE);
      if (!f.D.empty())
        write_array(root, "D/" + f.name, {static_cast<hsize_t>(f.D.size())}, f.D.data(), H5T_IEEE_F64LE,
                    H5T_NATIVE_DOUBLE);
    }
    TASKREL_HDF5_CHECK(H5Fflush(root, H5F_SCOPE_GLOBAL));
    TASKREL_HDF5_CHECK(H5Fclose(file.release()));
  } catch (const RuntimeError& error) {
    // The HDF5 message says which call failed, not on which file.
    throw RuntimeError(fmt::format("{}: writing {} failed: {}", path, pending.temporary(), error.what()));
  }
  pending.commit();
}

}  // namespace taskrel::io
