// The ground cost c(z, z') between feature vectors. DESIGN.md 1.6:
// `euclidean` (default; what the paper reports) or `sqeuclidean`.
#pragma once

#include "core/enum_names.h"

namespace taskrel::ot {

enum class GroundCost { kEuclidean, kSquaredEuclidean };

// Precision of the stored cost and of the Sinkhorn exponentials. float32
// halves memory traffic; its relative error per entry is ~6e-8 of the cost,
// i.e. ~6e-8 * cost / epsilon in the exponent (documented in the README).
enum class Precision { kFloat32, kFloat64 };

}  // namespace taskrel::ot

namespace taskrel {

template <>
struct EnumNames<ot::GroundCost> {
  static constexpr const char* what = "ground cost";
  static constexpr EnumName<ot::GroundCost> names[] = {{ot::GroundCost::kEuclidean, "euclidean"},
                                                       {ot::GroundCost::kSquaredEuclidean, "sqeuclidean"}};
};

template <>
struct EnumNames<ot::Precision> {
  static constexpr const char* what = "precision";
  static constexpr EnumName<ot::Precision> names[] = {{ot::Precision::kFloat32, "float32"},
                                                      {ot::Precision::kFloat64, "float64"}};
};

}  // namespace taskrel
