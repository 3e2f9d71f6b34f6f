// A rank's block of the ground-cost matrix: its local rows of X against all
// rows of Y, computed with GEMM as ||x||^2 + ||y||^2 - 2 x.y (clamped at 0).
//
// Both clouds are centred on the mean of Y first (the cost is translation
// invariant, and centring removes most of the cancellation in the GEMM form);
// the GEMM runs in float64, and the result is stored in T.
//
// A memory budget decides the mode: `stored` keeps the n_local x m block in
// memory (one pass over it per Sinkhorn iteration); `online` recomputes row
// tiles on demand, so no rank ever needs its whole block. Either way callers
// see row tiles through row_tile().
#pragma once

#include <cstdint>
#include <vector>

#include <Eigen/Dense>

#include "ot/ground_cost.h"
#include "ot/point_cloud.h"

namespace taskrel::ot {

template <typename T>
class CostBlock {
 public:
  CostBlock(PointCloudView x_local, PointCloudView y, GroundCost cost, std::int64_t memory_budget_bytes);

  std::int64_t rows() const { return rows_; }
  std::int64_t cols() const { return cols_; }
  bool stored() const { return stored_; }
  GroundCost ground_cost() const { return cost_; }

  // Rows per tile that callers should iterate with.
  std::int64_t tile_rows() const { return tile_rows_; }

  // Pointer to `count` consecutive rows starting at `begin` (row-major,
  // count x cols). In online mode the tile is computed into `scratch`.
  // Thread-safe for distinct scratch buffers.
  const T* row_tile(std::int64_t begin, std::int64_t count, std::vector<T>& scratch) const;

  // Sum and maximum of the local entries (one pass).
  void local_sum_and_max(double& sum, double& max) const;

 private:
  void compute_rows(std::int64_t begin, std::int64_t count, T* out) const;

  using RowMajorDouble = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  std::int64_t rows_;
  std::int64_t cols_;
  GroundCost cost_;
  bool stored_;
  std::int64_t tile_rows_;
  RowMajorDouble x_centred_;   // rows x dim
  RowMajorDouble y_centred_;   // cols x dim
  Eigen::VectorXd x_norms_;    // squared norms of the centred rows
  Eigen::VectorXd y_norms_;
  std::vector<T> matrix_;      // rows x cols when stored
};

extern template class CostBlock<float>;
extern template class CostBlock<double>;

}  // namespace taskrel::ot
