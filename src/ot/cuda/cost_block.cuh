// Internal to the CUDA backend: the cost block of this rank's rows against
// Y on the device, by cuBLAS GEMM, stored (float32 / 16-bit) when it fits
// the memory budget, else recomputed band by band.
#pragma once

#include <cublas_v2.h>

#include <algorithm>
#include <vector>

#include "ot/cuda/sinkhorn_kernels.cuh"
#include "ot/ground_cost.h"
#include "ot/point_cloud.h"
#include "ot/sinkhorn.h"

namespace taskrel::ot::gpu {

// ---- the cost block on the device ------------------------------------------

template <typename S>
class GpuCostBlock {
 public:
  GpuCostBlock(PointCloudView x_local, PointCloudView y, GroundCost ground, const GpuOptions& options,
               std::int64_t memory_budget_bytes, cublasHandle_t blas, cudaStream_t stream)
      : rows_(x_local.rows), cols_(y.rows), dim_(y.dim), ld_(round_up(std::max<std::int64_t>(1, y.rows), kVector)),
        ground_(ground), gemm_(options.gemm), blas_(blas), stream_(stream) {
    TASKREL_ASSERT(x_local.rows == 0 || x_local.dim == y.dim, "dimension mismatch {} vs {}", x_local.dim, y.dim);
    upload_points(x_local, y);

    // Stored if it fits the budget (memory_budget.h; default: 3/4 of the free
    // device memory).
    std::size_t free_bytes = 0, total_bytes = 0;
    TASKREL_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
    const double block_bytes = static_cast<double>(rows_) * static_cast<double>(ld_) * sizeof(S);
    stored_ = stores_cost_block(block_bytes, memory_budget_bytes, /*on_gpu=*/true, static_cast<double>(free_bytes));

    // Bands: all rows when stored, unless asked; when online, as many rows as
    // 1/16 of the free memory (256 MB to 2 GB) of float32 GEMM output holds,
    // so the row kernel still has warps enough. Multiples of kTileRows.
    const std::int64_t scratch_bytes =
        std::clamp<std::int64_t>(static_cast<std::int64_t>(free_bytes / 16), std::int64_t{256} << 20, std::int64_t{2} << 30);
    const std::int64_t scratch_rows =
        round_up(std::clamp<std::int64_t>(scratch_bytes / (ld_ * 4), kTileRows, 1 << 20), kTileRows);
    if (options.band_rows > 0) band_rows_ = round_up(options.band_rows, kTileRows);
    else band_rows_ = stored_ ? round_up(std::max<std::int64_t>(rows_, 1), kTileRows) : scratch_rows;
    gemm_rows_ = std::min(scratch_rows, round_up(std::max<std::int64_t>(rows_, 1), kTileRows));
    if (!stored_) gemm_rows_ = std::max(gemm_rows_, band_rows_);

    dots_.resize(static_cast<std::size_t>(gemm_rows_ * ld_));
    if (stored_) matrix_.resize(static_cast<std::size_t>(std::max<std::int64_t>(rows_, 1) * ld_));
    else band_.resize(static_cast<std::size_t>(gemm_rows_ * ld_));

    // One pass over the whole block: the statistics, and the stored matrix.
    DeviceArray<double> row_sum(std::max<std::int64_t>(rows_, 1)), row_max(std::max<std::int64_t>(rows_, 1));
    for (std::int64_t begin = 0; begin < rows_; begin += gemm_rows_) {
      const std::int64_t count = std::min(gemm_rows_, rows_ - begin);
      S* out = stored_ ? matrix_.get() + begin * ld_ : band_.get();
      compute(begin, count, out, row_sum.get() + begin, row_max.get() + begin);
    }
    std::vector<double> sums(rows_), maxima(rows_);
    TASKREL_CUDA_CHECK(cudaStreamSynchronize(stream_));
    row_sum.download(sums.data(), rows_);
    row_max.download(maxima.data(), rows_);
    for (std::int64_t i = 0; i < rows_; ++i) {
      sum_ += sums[i];
      max_ = std::max(max_, maxima[i]);
    }
  }

  std::int64_t rows() const { return rows_; }
  std::int64_t cols() const { return cols_; }
  std::int64_t ld() const { return ld_; }
  bool stored() const { return stored_; }
  std::int64_t band_rows() const { return band_rows_; }
  float scale() const { return scale_; }
  double local_sum() const { return sum_; }
  double local_max() const { return max_; }

  // The rows [begin, begin + count) of the block, count <= band_rows().
  const S* band(std::int64_t begin, std::int64_t count) {
    if (stored_) return matrix_.get() + begin * ld_;
    compute(begin, count, band_.get(), nullptr, nullptr);
    return band_.get();
  }

 private:
  void upload_points(PointCloudView x_local, PointCloudView y) {
    // Centre both clouds on the mean of Y in float64 (as the CPU block does).
    std::vector<double> centre(dim_, 0.0);
    for (std::int64_t j = 0; j < y.rows; ++j)
      for (std::int64_t k = 0; k < dim_; ++k) centre[k] += y.row(j)[k];
    if (y.rows > 0)
      for (double& c : centre) c /= static_cast<double>(y.rows);
    const bool bf16 = gemm_ == GemmPrecision::kBFloat16;
    auto prepare = [&](PointCloudView cloud, std::vector<float>& norms, double& largest_norm, auto& device_points) {
      std::vector<float> centred(static_cast<std::size_t>(cloud.rows * dim_));
      std::vector<__nv_bfloat16> rounded(bf16 ? centred.size() : 0);
      norms.assign(cloud.rows, 0.0f);
      largest_norm = 0.0;
      for (std::int64_t i = 0; i < cloud.rows; ++i) {
        double norm = 0.0;
        for (std::int64_t k = 0; k < dim_; ++k) {
          float v = static_cast<float>(static_cast<double>(cloud.row(i)[k]) - centre[k]);
          if (bf16) {
            rounded[i * dim_ + k] = __float2bfloat16_rn(v);
            v = __bfloat162float(rounded[i * dim_ + k]);  // norms of the vectors the GEMM sees
          }
          centred[i * dim_ + k] = v;
          norm += static_cast<double>(v) * v;
        }
        norms[i] = static_cast<float>(norm);
        largest_norm = std::max(largest_norm, std::sqrt(norm));
      }
      const std::size_t bytes = centred.size() * (bf16 ? sizeof(__nv_bfloat16) : sizeof(float));
      device_points.resize(std::max<std::size_t>(bytes, 1));
      device_points.upload(bf16 ? reinterpret_cast<const unsigned char*>(rounded.data())
                                : reinterpret_cast<const unsigned char*>(centred.data()),
                           bytes);
    };
    std::vector<float> x_norms, y_norms;
    double x_largest = 0.0, y_largest = 0.0;
    prepare(x_local, x_norms, x_largest, x_points_);
    prepare(y, y_norms, y_largest, y_points_);
    x_norms_.resize(std::max<std::int64_t>(rows_, 1));
    x_norms_.upload(x_norms.data(), rows_);
    y_norms_.resize(ld_);
    y_norms_.upload(y_norms.data(), cols_);
    // 16-bit storage holds C / s with s >= max C (triangle inequality on the
    // centred points), so the values lie in [0, 1] and cannot overflow.
    if (!std::is_same_v<S, float>) {
      const double bound = x_largest + y_largest;
      const double s = ground_ == GroundCost::kEuclidean ? bound : bound * bound;
      scale_ = s > 0 && std::isfinite(s) ? static_cast<float>(s * 1.001) : 1.0f;
    }
  }

  // GEMM of rows [begin, begin + count) against Y, then the epilogue into out.
  void compute(std::int64_t begin, std::int64_t count, S* out, double* row_sum, double* row_max) {
    if (count <= 0 || cols_ == 0) return;
    const float alpha = -2.0f, beta = 0.0f;
    const bool bf16 = gemm_ == GemmPrecision::kBFloat16;
    const cudaDataType_t input = bf16 ? CUDA_R_16BF : CUDA_R_32F;
    const cublasComputeType_t compute =
        gemm_ == GemmPrecision::kTf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    const std::size_t element = bf16 ? sizeof(__nv_bfloat16) : sizeof(float);
    const unsigned char* x = x_points_.get() + static_cast<std::size_t>(begin * dim_) * element;
    // Column-major view: dots^T (m x count) = Y^T(m x d) . X^T(d x count).
    TASKREL_CUBLAS_CHECK(cublasGemmEx(blas_, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(cols_), static_cast<int>(count),
                                      static_cast<int>(dim_), &alpha, y_points_.get(), input, static_cast<int>(dim_), x,
                                      input, static_cast<int>(dim_), &beta, dots_.get(), CUDA_R_32F,
                                      static_cast<int>(ld_), compute, CUBLAS_GEMM_DEFAULT));
    cost_epilogue<S><<<static_cast<unsigned>(count), 256, 0, stream_>>>(
        dots_.get(), ld_, cols_, x_norms_.get() + begin, y_norms_.get(), ground_ == GroundCost::kEuclidean,
        1.0f / scale_, scale_, out, row_sum, row_max);
    check_launch();
  }

  std::int64_t rows_, cols_, dim_, ld_;
  GroundCost ground_;
  GemmPrecision gemm_;
  cublasHandle_t blas_;
  cudaStream_t stream_;
  bool stored_ = false;
  std::int64_t band_rows_ = 0, gemm_rows_ = 0;
  float scale_ = 1.0f;
  double sum_ = 0.0, max_ = 0.0;
  DeviceArray<unsigned char> x_points_, y_points_;
  DeviceArray<float> x_norms_, y_norms_, dots_;
  DeviceArray<S> matrix_, band_;
};

}  // namespace taskrel::ot::gpu
