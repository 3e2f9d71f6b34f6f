// The ground cost c(z, z') between feature vectors. DESIGN.md 1.6:
// `euclidean` (default; what the paper reports) or `sqeuclidean`.
#pragma once

#include <string>

namespace taskrel::ot {

enum class GroundCost { kEuclidean, kSquaredEuclidean };

// Parses "euclidean" / "sqeuclidean"; throws InputError naming the value.
GroundCost parse_ground_cost(const std::string& name);
const char* to_string(GroundCost cost);

// Precision of the stored cost and of the Sinkhorn exponentials. float32
// halves memory traffic; its relative error per entry is ~6e-8 of the cost,
// i.e. ~6e-8 * cost / epsilon in the exponent (documented in the README).
enum class Precision { kFloat32, kFloat64 };
Precision parse_precision(const std::string& name);
const char* to_string(Precision precision);

}  // namespace taskrel::ot
