#include "ot/ground_cost.h"

#include "core/error.h"

namespace taskrel::ot {

GroundCost parse_ground_cost(const std::string& name) {
  if (name == "euclidean") return GroundCost::kEuclidean;
  if (name == "sqeuclidean") return GroundCost::kSquaredEuclidean;
  throw InputError(fmt::format("unknown ground cost '{}' (expected euclidean or sqeuclidean)", name));
}

const char* to_string(GroundCost cost) {
  return cost == GroundCost::kEuclidean ? "euclidean" : "sqeuclidean";
}

Precision parse_precision(const std::string& name) {
  if (name == "float32") return Precision::kFloat32;
  if (name == "float64") return Precision::kFloat64;
  throw InputError(fmt::format("unknown precision '{}' (expected float32 or float64)", name));
}

const char* to_string(Precision precision) {
  return precision == Precision::kFloat32 ? "float32" : "float64";
}

}  // namespace taskrel::ot
