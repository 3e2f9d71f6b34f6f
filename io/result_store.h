// The result store of `taskrel matrix` (DESIGN.md section 3, "Results"):
//
//   relatedness.csv  one row per recorded triple: encoder, reference, target,
//                    status (ok | failed), error, then every scalar of the
//                    triple's result flattened with '_' (terms, diagnostics,
//                    options_*, head_*, ot_*, timings_*); for pandas.
//   relatedness.h5   per scalar quantity a float64 dataset [encoder,
//                    reference, target]; cells without a result hold the
//                    fill value (attribute fill_value, 0) and are 0 in the
//                    uint8 mask /done (1: finished ok); /failed marks failed
//                    triples. Never NaN for a missing cell. The fitted B
//                    (K_T x K_R) and D (K_R) of each finished triple at
//                    /B/<encoder>/<reference>/<target> and /D/... The axes
//                    are the root attributes encoders, references, targets.
//
// Both files are written to a temporary name and renamed, so a reader never
// sees a partial file.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace taskrel::io {

struct MatrixAxes {
  std::vector<std::string> encoders, references, targets;
};

// A record: {"encoder", "reference", "target", "status", "error"?, "result"?}.
void write_relatedness_csv(const std::string& path, const std::vector<nlohmann::json>& records);

// `attributes`: extra root attributes (strings, numbers), e.g. the job and its hash.
void write_relatedness_h5(const std::string& path, const MatrixAxes& axes, const std::vector<nlohmann::json>& records,
                          const nlohmann::json& attributes);

// The scalars of a result, flattened ("ot": {"iterations": 3} -> ot_iterations); arrays are left out.
std::vector<std::pair<std::string, nlohmann::json>> flatten_scalars(const nlohmann::json& result);

}  // namespace taskrel::io
