#include "ot/cost_block.h"
#include "ot/memory_budget.h"

#include <algorithm>
#include <cmath>

#include <omp.h>

#include "core/error.h"

namespace taskrel::ot {

namespace {

Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> centred_copy(
    PointCloudView cloud, const Eigen::RowVectorXd& centre) {
  Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> out(cloud.rows, cloud.dim);
  for (std::int64_t i = 0; i < cloud.rows; ++i) {
    const float* row = cloud.row(i);
    for (std::int64_t k = 0; k < cloud.dim; ++k) out(i, k) = static_cast<double>(row[k]) - centre(k);
  }
  return out;
}

}  // namespace

template <typename T>
CostBlock<T>::CostBlock(PointCloudView x_local, PointCloudView y, GroundCost cost,
                        std::int64_t memory_budget_bytes)
    : rows_(x_local.rows), cols_(y.rows), cost_(cost) {
  TASKREL_ASSERT(x_local.rows == 0 || x_local.dim == y.dim, "dimension mismatch {} vs {}", x_local.dim, y.dim);
  const std::int64_t dim = y.dim;
  Eigen::RowVectorXd centre = Eigen::RowVectorXd::Zero(dim);
  for (std::int64_t j = 0; j < y.rows; ++j)
    for (std::int64_t k = 0; k < dim; ++k) centre(k) += y.row(j)[k];
  if (y.rows > 0) centre /= static_cast<double>(y.rows);
  x_centred_ = centred_copy(x_local, centre);
  y_centred_ = centred_copy(y, centre);
  x_norms_ = x_centred_.rowwise().squaredNorm();
  y_norms_ = y_centred_.rowwise().squaredNorm();

  const double block_bytes = static_cast<double>(rows_) * static_cast<double>(cols_) * sizeof(T);
  stored_ = stores_cost_block(block_bytes, memory_budget_bytes, /*on_gpu=*/false, 0.0);
  if (stored_) {
    tile_rows_ = 16;
    matrix_.resize(static_cast<std::size_t>(rows_ * cols_));
    // Tiles of ~32 MB of float64 GEMM output keep the temporary small.
    const std::int64_t gemm_rows = std::max<std::int64_t>(1, (4 << 20) / std::max<std::int64_t>(1, cols_));
    for (std::int64_t begin = 0; begin < rows_; begin += gemm_rows) {
      const std::int64_t count = std::min(gemm_rows, rows_ - begin);
      compute_rows(begin, count, matrix_.data() + begin * cols_);
    }
  } else {
    // Online tiles: big enough for an efficient GEMM, small enough for cache.
    tile_rows_ = std::clamp<std::int64_t>((1 << 16) / std::max<std::int64_t>(1, cols_), 8, 256);
  }
}

template <typename T>
void CostBlock<T>::compute_rows(std::int64_t begin, std::int64_t count, T* out) const {
  if (count <= 0 || cols_ == 0) return;
  RowMajorDouble dots = x_centred_.middleRows(begin, count) * y_centred_.transpose();
  for (std::int64_t i = 0; i < count; ++i) {
    const double xn = x_norms_(begin + i);
    T* out_row = out + i * cols_;
    const double* dot_row = dots.data() + i * cols_;
    if (cost_ == GroundCost::kEuclidean) {
      for (std::int64_t j = 0; j < cols_; ++j)
        out_row[j] = static_cast<T>(std::sqrt(std::max(0.0, xn + y_norms_(j) - 2.0 * dot_row[j])));
    } else {
      for (std::int64_t j = 0; j < cols_; ++j)
        out_row[j] = static_cast<T>(std::max(0.0, xn + y_norms_(j) - 2.0 * dot_row[j]));
    }
  }
}

template <typename T>
const T* CostBlock<T>::row_tile(std::int64_t begin, std::int64_t count, std::vector<T>& scratch) const {
  TASKREL_ASSERT(begin >= 0 && begin + count <= rows_, "tile [{}, {}) outside {} rows", begin, begin + count, rows_);
  if (stored_) return matrix_.data() + begin * cols_;
  scratch.resize(static_cast<std::size_t>(count * cols_));
  compute_rows(begin, count, scratch.data());
  return scratch.data();
}

template <typename T>
void CostBlock<T>::local_sum_and_max(double& sum, double& max) const {
  double total = 0.0;
  double largest = 0.0;
#pragma omp parallel reduction(+ : total) reduction(max : largest)
  {
    std::vector<T> scratch;
#pragma omp for schedule(static)
    for (std::int64_t begin = 0; begin < rows_; begin += tile_rows_) {
      const std::int64_t count = std::min(tile_rows_, rows_ - begin);
      const T* tile = row_tile(begin, count, scratch);
      for (std::int64_t e = 0; e < count * cols_; ++e) {
        total += tile[e];
        largest = std::max<double>(largest, tile[e]);
      }
    }
  }
  sum = total;
  max = largest;
}

template class CostBlock<float>;
template class CostBlock<double>;

}  // namespace taskrel::ot
