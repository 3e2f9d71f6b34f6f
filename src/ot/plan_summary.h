// Turns what one pass over a plan P = exp((f + g - C) / eps) measured — each
// local row's mass and cost, and the local column sums — into the reported
// transport cost, mass, entropic objective and marginal error. Shared by the
// CPU and CUDA Sinkhorn backends; collective over `comm` (one all-reduce).
#pragma once

#include <vector>

#include "comm/communicator.h"
#include "ot/sinkhorn.h"

namespace taskrel::ot {

struct PlanMeasurements {
  std::vector<double> row_mass;     // this rank's rows: sum_j P_ij
  std::vector<double> row_cost;     // this rank's rows: sum_j P_ij C_ij
  std::vector<double> column_sums;  // this rank's part of sum_i P_ij, all columns
};

// a: this rank's source weights, b: target weights, f/g: the potentials.
void summarise_plan(Communicator& comm, const SinkhornOptions& options, double epsilon,
                    const std::vector<double>& a, const std::vector<double>& b, const std::vector<double>& f,
                    const std::vector<double>& g, PlanMeasurements measured, SinkhornResult& result);

}  // namespace taskrel::ot
