// CUDA backend of the sharded log-domain Sinkhorn (interface: sinkhorn.h).
//
// The same iteration as sinkhorn.cpp, on this rank's GPU:
//  - the cost block (local rows of X against Y) comes from cuBLAS GEMM,
//    ||x||^2 + ||y||^2 - 2 x.y after centring on the mean of Y, and is stored
//    in float32, float16 or bfloat16 (C / s, s an upper bound of the cost)
//    when it fits the memory budget, else recomputed band by band each
//    iteration (online);
//  - per band of rows, a row kernel (4 rows per warp, 16-byte loads) computes
//    the row sums of the current plan stabilised by the current f_i (every
//    summand <= 1), updates f and each row's marginal error; a column kernel
//    then sums the entries of the updated plan stabilised by the current g
//    into per-tile partials. Within a band that fits the L2 cache the column
//    kernel re-reads the rows from L2, so HBM sees the cost about once;
//  - the partials are summed in a fixed order (deterministic), the m column
//    sums and the error all-reduced in one call (NCCL on device buffers when
//    comm is an NcclCommunicator, else through the host), g updated;
//  - a row whose stabilised sum leaves [1e-30, 1e30] is redone exactly by its
//    warp (max-shifted); columns whose sum underflows are recomputed exactly
//    with max and sum all-reduces, as on the CPU.
// Exponents are formed in float32 in base 2 (x = g_j k + f_i k - c_ij s k,
// k = log2(e) / epsilon) and exponentiated with ex2.approx; the updates
// subtract exactly the rounded shift they added, so rounding of the shifts
// does not bias the potentials. Sums are float32 per 8 entries, then float64.
#include "ot/sinkhorn.h"
#include "ot/plan_summary.h"
#include "ot/sinkhorn_schedule.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <numeric>
#include <type_traits>
#include <vector>

#include "comm/cuda_check.h"
#include "comm/nccl_communicator.h"
#include "core/error.h"

namespace taskrel::ot {

bool cuda_device_visible() { return visible_cuda_devices() > 0; }

namespace {

constexpr double kLog2e = 1.4426950408889634;
constexpr double kLn2 = 0.6931471805599453;
constexpr double kInfinity = std::numeric_limits<double>::infinity();
constexpr int kRowThreads = 256;
constexpr int kColumnThreads = 256;
constexpr int kVector = 8;          // entries per 16-byte load of a 16-bit cost; row stride multiple
constexpr int kTileRows = 128;      // bands are multiples of this; column tiles divide it

std::int64_t round_up(std::int64_t value, std::int64_t multiple) { return (value + multiple - 1) / multiple * multiple; }

double relaxation(double rho, double epsilon) { return std::isinf(rho) ? 1.0 : rho / (rho + epsilon); }

template <typename T>
class DeviceArray {
 public:
  DeviceArray() = default;
  explicit DeviceArray(std::size_t count) { resize(count); }
  ~DeviceArray() {
    if (data_ != nullptr) cudaFree(data_);
  }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  void resize(std::size_t count) {
    if (data_ != nullptr) TASKREL_CUDA_CHECK(cudaFree(data_));
    data_ = nullptr;
    size_ = count;
    if (count > 0) {
      TASKREL_CUDA_CHECK(cudaMalloc(&data_, count * sizeof(T)));
      TASKREL_CUDA_CHECK(cudaMemset(data_, 0, count * sizeof(T)));
    }
  }
  void upload(const T* host, std::size_t count, std::size_t offset = 0) {
    TASKREL_ASSERT(offset + count <= size_, "upload of {} past {}", offset + count, size_);
    if (count > 0) TASKREL_CUDA_CHECK(cudaMemcpy(data_ + offset, host, count * sizeof(T), cudaMemcpyHostToDevice));
  }
  void download(T* host, std::size_t count, std::size_t offset = 0) const {
    TASKREL_ASSERT(offset + count <= size_, "download of {} past {}", offset + count, size_);
    if (count > 0) TASKREL_CUDA_CHECK(cudaMemcpy(host, data_ + offset, count * sizeof(T), cudaMemcpyDeviceToHost));
  }
  T* get() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  T* data_ = nullptr;
  std::size_t size_ = 0;
};

// ---- device helpers ---------------------------------------------------------

__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename S>
__device__ __forceinline__ S from_float(float v);
template <>
__device__ __forceinline__ float from_float<float>(float v) { return v; }
template <>
__device__ __forceinline__ __half from_float<__half>(float v) { return __float2half_rn(v); }
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

// Eight consecutive entries (16-byte aligned) as float32.
__device__ __forceinline__ void load8(const float* p, float (&v)[8]) {
  const float4 a = *reinterpret_cast<const float4*>(p);
  const float4 b = *reinterpret_cast<const float4*>(p + 4);
  v[0] = a.x; v[1] = a.y; v[2] = a.z; v[3] = a.w;
  v[4] = b.x; v[5] = b.y; v[6] = b.z; v[7] = b.w;
}
__device__ __forceinline__ void load8(const __half* p, float (&v)[8]) {
  const uint4 raw = *reinterpret_cast<const uint4*>(p);
  const __half2* h = reinterpret_cast<const __half2*>(&raw);
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    const float2 f = __half22float2(h[k]);
    v[2 * k] = f.x;
    v[2 * k + 1] = f.y;
  }
}
__device__ __forceinline__ void load8(const __nv_bfloat16* p, float (&v)[8]) {
  const uint4 raw = *reinterpret_cast<const uint4*>(p);
  const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&raw);
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    const float2 f = __bfloat1622float2(h[k]);
    v[2 * k] = f.x;
    v[2 * k + 1] = f.y;
  }
}

__device__ __forceinline__ double warp_sum(double v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// ---- kernels ----------------------------------------------------------------

// gk_j = g_j log2(e) / eps, rounded to float32 (the value every kernel uses).
__global__ void scale_potentials(const double* g, float* gk, std::int64_t count, double k2) {
  const std::int64_t j = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
  if (j < count) gk[j] = static_cast<float>(g[j] * k2);
}

// Sum over a row of 2^(gk_j + shift - c_j kc), or (max_mode) the max of gk_j - c_j kc.
// Returns the warp-reduced value in every lane.
template <typename S>
__device__ double row_exact_pass(const S* row, std::int64_t m, const float* gk, float kc, float shift, bool max_mode,
                                 int lane) {
  float best = -INFINITY;
  double sum = 0.0;
  for (std::int64_t j = lane; j < m; j += 32) {
    const float x = fmaf(-to_float(row[j]), kc, gk[j]);
    if (max_mode) best = fmaxf(best, x);
    else sum += fast_exp2(x - shift);
  }
  if (max_mode) return warp_max(best);
  return warp_sum(sum);
}

// One warp per kRows rows of the band (kRows = 2 or 4, chosen so the last
// wave of warps is nearly full).
// kEvaluate = false: Sinkhorn row update. f (band rows) <- new f; fk <- new f k2
// as float32 (for the column kernel); row_error <- |mass now - mass next|.
// kEvaluate = true: row_mass <- sum_j P_ij and row_cost <- sum_j P_ij C_ij at (f, g).
template <typename S, bool kEvaluate, int kRows>
__global__ void __launch_bounds__(kRowThreads) row_kernel(const S* __restrict__ cost, std::int64_t ld, std::int64_t rows,
                                                          std::int64_t m, const float* __restrict__ gk, float kc,
                                                          double k2, double epsilon, double tau_a,
                                                          const double* __restrict__ log_a, double* __restrict__ f,
                                                          float* __restrict__ fk, double* __restrict__ row_error,
                                                          double* __restrict__ row_mass, double* __restrict__ row_cost,
                                                          float cost_scale) {
  const int lane = threadIdx.x & 31;
  const std::int64_t warp = (blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x) >> 5;
  const std::int64_t first = warp * kRows;
  if (first >= rows) return;
  const int count = rows - first < kRows ? static_cast<int>(rows - first) : kRows;

  float shift[kRows];
  double sum[kRows], weighted[kRows];
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    shift[r] = r < count ? static_cast<float>(f[first + r] * k2) : 0.0f;
    sum[r] = 0.0;
    weighted[r] = 0.0;
  }
  const std::int64_t vector_end = m / kVector * kVector;
  for (std::int64_t j = lane * kVector; j < vector_end; j += 32 * kVector) {
    float g8[8];
    load8(gk + j, g8);
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      if (r < count) {
        float c8[8];
        load8(cost + (first + r) * ld + j, c8);
        float partial = 0.0f, partial_cost = 0.0f;
#pragma unroll
        for (int k = 0; k < 8; ++k) {
          const float p = fast_exp2(fmaf(-c8[k], kc, g8[k]) + shift[r]);
          partial += p;
          if (kEvaluate) partial_cost = fmaf(p, c8[k], partial_cost);
        }
        sum[r] += partial;
        if (kEvaluate) weighted[r] += partial_cost;
      }
    }
  }
  // The tail of fewer than kVector columns.
  for (std::int64_t j = vector_end + lane; j < m; j += 32) {
    const float g = gk[j];
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      if (r < count) {
        const float c = to_float(cost[(first + r) * ld + j]);
        const float p = fast_exp2(fmaf(-c, kc, g) + shift[r]);
        sum[r] += p;
        if (kEvaluate) weighted[r] += static_cast<double>(p) * c;
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    sum[r] = warp_sum(sum[r]);
    if (kEvaluate) weighted[r] = warp_sum(weighted[r]);
  }

  for (int r = 0; r < count; ++r) {
    const std::int64_t i = first + r;
    if (kEvaluate) {
      if (lane == 0) {
        row_mass[i] = sum[r];
        row_cost[i] = weighted[r] * cost_scale;
      }
      continue;
    }
    // lse = log sum_j exp((g_j - C_ij) / eps), relative to the shift added.
    double lse;
    if (sum[r] >= 1e-30 && sum[r] <= 1e30) {
      lse = log(sum[r]) - static_cast<double>(shift[r]) * kLn2;
    } else {
      const S* row = cost + i * ld;
      const float top = static_cast<float>(row_exact_pass(row, m, gk, kc, 0.0f, true, lane));
      const double exact = row_exact_pass(row, m, gk, kc, top, false, lane);
      lse = log(exact) + static_cast<double>(top) * kLn2;
    }
    if (lane == 0) {
      const double f_now = static_cast<double>(shift[r]) * kLn2 * epsilon;
      const double f_new = tau_a * (epsilon * log_a[i] - epsilon * lse);
      const double mass_now = exp(f_now / epsilon + lse);
      const double mass_next = exp(f_new / epsilon + lse);
      row_error[i] = fabs(mass_now - mass_next);
      f[i] = f_new;
      fk[i] = static_cast<float>(f_new * k2);
    }
  }
}

// Column partial sums of 2^(fk_i + gk_j - c_ij kc) over tiles of tile_rows
// rows: partials[tile_offset + tile][j]. Each thread owns 8 columns.
template <typename S>
__global__ void __launch_bounds__(kColumnThreads) column_kernel(const S* __restrict__ cost, std::int64_t ld,
                                                                std::int64_t rows, std::int64_t m,
                                                                const float* __restrict__ fk,
                                                                const float* __restrict__ gk, float kc,
                                                                float* __restrict__ partials, std::int64_t tile_offset,
                                                                int tile_rows) {
  const std::int64_t j = (blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x) * kVector;
  if (j >= m) return;
  const std::int64_t begin = blockIdx.y * static_cast<std::int64_t>(tile_rows);
  const std::int64_t end = rows < begin + tile_rows ? rows : begin + tile_rows;
  float g8[8], acc[8];
  load8(gk + j, g8);  // gk and the rows are padded to ld, a multiple of 8
#pragma unroll
  for (int k = 0; k < 8; ++k) acc[k] = 0.0f;
  std::int64_t i = begin;
  for (; i + 4 <= end; i += 4) {
    float c[4][8];
    float h[4];
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      load8(cost + (i + q) * ld + j, c[q]);
      h[q] = fk[i + q];
    }
#pragma unroll
    for (int q = 0; q < 4; ++q)
#pragma unroll
      for (int k = 0; k < 8; ++k) acc[k] += fast_exp2(fmaf(-c[q][k], kc, g8[k]) + h[q]);
  }
  for (; i < end; ++i) {
    float c[8];
    load8(cost + i * ld + j, c);
    const float h = fk[i];
#pragma unroll
    for (int k = 0; k < 8; ++k) acc[k] += fast_exp2(fmaf(-c[k], kc, g8[k]) + h);
  }
  float* out = partials + (tile_offset + blockIdx.y) * ld + j;
  reinterpret_cast<float4*>(out)[0] = make_float4(acc[0], acc[1], acc[2], acc[3]);
  reinterpret_cast<float4*>(out)[1] = make_float4(acc[4], acc[5], acc[6], acc[7]);
}

// sums[j] = sum over tiles of partials[t][j], in tile order (deterministic).
__global__ void reduce_partials(const float* partials, std::int64_t ld, std::int64_t tiles, std::int64_t m,
                                double* sums) {
  const std::int64_t j = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
  if (j >= m) return;
  double total = 0.0;
  std::int64_t t = 0;
  for (; t + 4 <= tiles; t += 4) {
    const float a = partials[t * ld + j], b = partials[(t + 1) * ld + j];
    const float c = partials[(t + 2) * ld + j], d = partials[(t + 3) * ld + j];
    total += (static_cast<double>(a) + b) + (static_cast<double>(c) + d);
  }
  for (; t < tiles; ++t) total += partials[t * ld + j];
  sums[j] = total;
}

// out[0] = sum of values[0..count) in a fixed order (one block of 1024 threads).
__global__ void sum_in_order(const double* values, std::int64_t count, double* out) {
  __shared__ double partial[1024];
  double total = 0.0;
  for (std::int64_t i = threadIdx.x; i < count; i += blockDim.x) total += values[i];
  partial[threadIdx.x] = total;
  __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride >>= 1) {
    if (threadIdx.x < stride) partial[threadIdx.x] += partial[threadIdx.x + stride];
    __syncthreads();
  }
  if (threadIdx.x == 0) out[0] = partial[0];
}

// g_j <- tau_b (eps log b_j - eps lse_j) from the stabilised column sums; a
// column whose sum is not trusted keeps its g and is counted.
__global__ void update_columns(const double* sums, const float* gk, const double* log_b, double* g, std::int64_t m,
                               double epsilon, double tau_b, double smallest_trusted, int* untrusted) {
  const std::int64_t j = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
  if (j >= m) return;
  const double sum = sums[j];
  if (!(sum >= smallest_trusted) || isinf(sum)) {
    atomicAdd(untrusted, 1);
    return;
  }
  const double lse = log(sum) - static_cast<double>(gk[j]) * kLn2;
  g[j] = tau_b * (epsilon * log_b[j] - epsilon * lse);
}

// Exact column log-sum-exp for a list of columns, over one band of rows:
// pass 0: best[q] = max(best[q], max_i (f_i - C_ij)); pass 1: total[q] +=
// sum_i exp((f_i - C_ij - best[q]) / eps). One block per listed column.
template <typename S>
__global__ void exact_columns(const S* cost, std::int64_t ld, std::int64_t rows, const double* f,
                              const std::int64_t* columns, double scale, double epsilon, int pass, double* best,
                              double* total) {
  __shared__ double shared[256];
  const std::int64_t j = columns[blockIdx.x];
  double value = pass == 0 ? -INFINITY : 0.0;
  const double top = pass == 0 ? 0.0 : best[blockIdx.x];
  for (std::int64_t i = threadIdx.x; i < rows; i += blockDim.x) {
    const double x = f[i] - scale * static_cast<double>(to_float(cost[i * ld + j]));
    if (pass == 0) value = fmax(value, x);
    else value += exp((x - top) / epsilon);
  }
  shared[threadIdx.x] = value;
  __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride >>= 1) {
    if (threadIdx.x < stride)
      shared[threadIdx.x] = pass == 0 ? fmax(shared[threadIdx.x], shared[threadIdx.x + stride])
                                      : shared[threadIdx.x] + shared[threadIdx.x + stride];
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    if (pass == 0) best[blockIdx.x] = fmax(best[blockIdx.x], shared[0]);
    else total[blockIdx.x] += shared[0];
  }
}

// Cost band from the GEMM output: out_ij = c(x_i, y_j) / scale in S, with
// dots_ij = -2 x_i.y_j. With stats, row_stats[i] = (sum, max) of the stored
// values (as the solver sees them: S rounded, times scale). One block per row.
template <typename S>
__global__ void cost_epilogue(const float* dots, std::int64_t ld, std::int64_t m, const float* x_norms,
                              const float* y_norms, bool euclidean, float inv_scale, float scale, S* out,
                              double* row_sum, double* row_max) {
  const std::int64_t i = blockIdx.x;
  const float xn = x_norms[i];
  double sum = 0.0;
  float largest = 0.0f;
  for (std::int64_t j = threadIdx.x; j < m; j += blockDim.x) {
    float v = fmaxf(0.0f, xn + y_norms[j] + dots[i * ld + j]);
    if (euclidean) v = sqrtf(v);
    const S stored = from_float<S>(v * inv_scale);
    out[i * ld + j] = stored;
    if (row_sum != nullptr) {
      const float back = to_float(stored) * scale;
      sum += back;
      largest = fmaxf(largest, back);
    }
  }
  if (row_sum == nullptr) return;
  __shared__ double sums[256];
  __shared__ float maxima[256];
  sums[threadIdx.x] = sum;
  maxima[threadIdx.x] = largest;
  __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride >>= 1) {
    if (threadIdx.x < stride) {
      sums[threadIdx.x] += sums[threadIdx.x + stride];
      maxima[threadIdx.x] = fmaxf(maxima[threadIdx.x], maxima[threadIdx.x + stride]);
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    row_sum[i] = sums[0];
    row_max[i] = maxima[0];
  }
}

void check_launch() { TASKREL_CUDA_CHECK(cudaGetLastError()); }

unsigned blocks_for(std::int64_t count, int threads) {
  return static_cast<unsigned>(std::max<std::int64_t>(1, (count + threads - 1) / threads));
}

// ---- the cost block on the device ------------------------------------------

template <typename S>
class GpuCostBlock {
 public:
  GpuCostBlock(PointCloudView x_local, PointCloudView y, GroundCost ground, const GpuOptions& options,
               cublasHandle_t blas, cudaStream_t stream)
      : rows_(x_local.rows), cols_(y.rows), dim_(y.dim), ld_(round_up(std::max<std::int64_t>(1, y.rows), kVector)),
        ground_(ground), gemm_(options.gemm), blas_(blas), stream_(stream) {
    TASKREL_ASSERT(x_local.rows == 0 || x_local.dim == y.dim, "dimension mismatch {} vs {}", x_local.dim, y.dim);
    upload_points(x_local, y);

    // Stored if it fits the budget (default: 3/4 of the free device memory).
    std::size_t free_bytes = 0, total_bytes = 0;
    TASKREL_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
    const double budget = options.memory_budget_bytes >= 0 ? static_cast<double>(options.memory_budget_bytes)
                                                           : 0.75 * static_cast<double>(free_bytes);
    const double block_bytes = static_cast<double>(rows_) * static_cast<double>(ld_) * sizeof(S);
    stored_ = block_bytes <= budget;

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

// ---- the solver ---------------------------------------------------------------

// The m + 1 sums of an iteration (or the exact fallback's vectors) over all
// ranks: NCCL on the device buffer when available, else through the host.
void all_reduce_device(Communicator& comm, double* device_data, std::size_t count, ReduceOp op, cudaStream_t stream) {
  if (comm.size() == 1 || count == 0) return;
  if (auto* nccl = dynamic_cast<NcclCommunicator*>(&comm)) {
    nccl->all_reduce_device(device_data, count, op, stream);
    return;
  }
  std::vector<double> host(count);
  TASKREL_CUDA_CHECK(cudaMemcpyAsync(host.data(), device_data, count * sizeof(double), cudaMemcpyDeviceToHost, stream));
  TASKREL_CUDA_CHECK(cudaStreamSynchronize(stream));
  comm.all_reduce(host.data(), count, op);
  TASKREL_CUDA_CHECK(cudaMemcpyAsync(device_data, host.data(), count * sizeof(double), cudaMemcpyHostToDevice, stream));
}

template <typename S>
class GpuSinkhorn {
 public:
  GpuSinkhorn(Communicator& comm, GpuCostBlock<S>& cost, const std::vector<double>& a, const std::vector<double>& b,
              const SinkhornOptions& options, cudaStream_t stream)
      : comm_(comm), cost_(cost), options_(options), stream_(stream), n_(cost.rows()), m_(cost.cols()),
        ld_(cost.ld()), a_(a), b_(b) {
    const std::size_t rows = std::max<std::int64_t>(n_, 1);
    f_.resize(rows);
    fk_.resize(rows);
    row_error_.resize(rows);
    log_a_.resize(rows);
    g_.resize(ld_);
    gk_.resize(ld_);
    log_b_.resize(ld_);
    sums_.resize(ld_ + 1);
    untrusted_.resize(1);
    choose_launch_shapes();
    partials_.resize(static_cast<std::size_t>(std::max<std::int64_t>(1, tiles()) * ld_));
    std::vector<double> log_a(n_), log_b(m_);
    for (std::int64_t i = 0; i < n_; ++i) log_a[i] = std::log(a[i]);
    for (std::int64_t j = 0; j < m_; ++j) log_b[j] = std::log(b[j]);
    log_a_.upload(log_a.data(), n_);
    log_b_.upload(log_b.data(), m_);
  }

  void warm_start(const Potentials& start) {
    TASKREL_ASSERT(static_cast<std::int64_t>(start.f.size()) == n_ &&
                       static_cast<std::int64_t>(start.g.size()) == m_,
                   "warm start has {} / {} potentials for {} / {} points", start.f.size(), start.g.size(), n_, m_);
    f_.upload(start.f.data(), n_);
    g_.upload(start.g.data(), m_);
  }

  // One iteration at epsilon; returns the global L1 row-marginal error of the
  // plan before it (as sinkhorn.cpp).
  double iterate(double epsilon, int& fallbacks) {
    const double tau_a = relaxation(options_.rho_source, epsilon);
    const double tau_b = relaxation(options_.rho_target, epsilon);
    const double k2 = kLog2e / epsilon;
    const float kc = static_cast<float>(cost_.scale() * k2);
    scale_potentials<<<blocks_for(m_, 256), 256, 0, stream_>>>(g_.get(), gk_.get(), m_, k2);
    check_launch();
    for (std::int64_t begin = 0; begin < n_; begin += cost_.band_rows()) {
      const std::int64_t count = std::min(cost_.band_rows(), n_ - begin);
      const S* band = cost_.band(begin, count);
      launch_rows<false>(band, begin, count, kc, k2, epsilon, tau_a, nullptr, nullptr);
      launch_columns(band, begin, count, kc);
    }
    if (n_ > 0) {
      reduce_partials<<<blocks_for(m_, 256), 256, 0, stream_>>>(partials_.get(), ld_, tiles(), m_, sums_.get());
      check_launch();
      sum_in_order<<<1, 1024, 0, stream_>>>(row_error_.get(), n_, sums_.get() + m_);
      check_launch();
    } else {
      TASKREL_CUDA_CHECK(cudaMemsetAsync(sums_.get(), 0, (m_ + 1) * sizeof(double), stream_));
    }
    all_reduce_device(comm_, sums_.get(), m_ + 1, ReduceOp::kSum, stream_);
    TASKREL_CUDA_CHECK(cudaMemsetAsync(untrusted_.get(), 0, sizeof(int), stream_));
    const double smallest_trusted = 1e-25;
    update_columns<<<blocks_for(m_, 256), 256, 0, stream_>>>(sums_.get(), gk_.get(), log_b_.get(), g_.get(), m_,
                                                            epsilon, tau_b, smallest_trusted, untrusted_.get());
    check_launch();
    double error = 0.0;
    int untrusted = 0;
    TASKREL_CUDA_CHECK(cudaMemcpyAsync(&error, sums_.get() + m_, sizeof(double), cudaMemcpyDeviceToHost, stream_));
    TASKREL_CUDA_CHECK(cudaMemcpyAsync(&untrusted, untrusted_.get(), sizeof(int), cudaMemcpyDeviceToHost, stream_));
    TASKREL_CUDA_CHECK(cudaStreamSynchronize(stream_));
    if (untrusted > 0) {
      // The sums are identical on every rank, so is the list of columns.
      std::vector<double> sums(m_);
      sums_.download(sums.data(), m_);
      std::vector<std::int64_t> columns;
      for (std::int64_t j = 0; j < m_; ++j)
        if (!(sums[j] >= smallest_trusted) || std::isinf(sums[j])) columns.push_back(j);
      exact_column_update(epsilon, tau_b, columns);
      ++fallbacks;
    }
    return error;
  }

  // g_j = tau_b (eps log b_j - eps LSE_i((f_i - C_ij)/eps)) with max and sum all-reduces.
  void exact_column_update(double epsilon, double tau_b, const std::vector<std::int64_t>& columns) {
    const std::size_t k = columns.size();
    DeviceArray<std::int64_t> list(k);
    list.upload(columns.data(), k);
    DeviceArray<double> best(k), total(k);
    std::vector<double> host(k, -kInfinity);
    best.upload(host.data(), k);
    for (int pass = 0; pass < 2; ++pass) {
      for (std::int64_t begin = 0; begin < n_; begin += cost_.band_rows()) {
        const std::int64_t count = std::min(cost_.band_rows(), n_ - begin);
        const S* band = cost_.band(begin, count);
        exact_columns<S><<<static_cast<unsigned>(k), 256, 0, stream_>>>(band, ld_, count, f_.get() + begin, list.get(),
                                                                         cost_.scale(), epsilon, pass, best.get(),
                                                                         total.get());
        check_launch();
      }
      all_reduce_device(comm_, pass == 0 ? best.get() : total.get(), k, pass == 0 ? ReduceOp::kMax : ReduceOp::kSum,
                        stream_);
    }
    TASKREL_CUDA_CHECK(cudaStreamSynchronize(stream_));
    std::vector<double> maxima(k), sums(k), g(m_);
    best.download(maxima.data(), k);
    total.download(sums.data(), k);
    g_.download(g.data(), m_);
    for (std::size_t q = 0; q < k; ++q) {
      const std::int64_t j = columns[q];
      const double lse = std::log(sums[q]) + maxima[q] / epsilon;
      g[j] = tau_b * (epsilon * std::log(b_[j]) - epsilon * lse);
    }
    g_.upload(g.data(), m_);
  }

  // Transport cost, marginals and objective of the plan at (f, g), as sinkhorn.cpp.
  void evaluate(double epsilon, SinkhornResult& result) {
    const double k2 = kLog2e / epsilon;
    const float kc = static_cast<float>(cost_.scale() * k2);
    DeviceArray<double> row_mass(std::max<std::int64_t>(n_, 1)), row_cost(std::max<std::int64_t>(n_, 1));
    scale_potentials<<<blocks_for(m_, 256), 256, 0, stream_>>>(g_.get(), gk_.get(), m_, k2);
    check_launch();
    if (n_ > 0) {
      scale_potentials<<<blocks_for(n_, 256), 256, 0, stream_>>>(f_.get(), fk_.get(), n_, k2);
      check_launch();
    }
    for (std::int64_t begin = 0; begin < n_; begin += cost_.band_rows()) {
      const std::int64_t count = std::min(cost_.band_rows(), n_ - begin);
      const S* band = cost_.band(begin, count);
      launch_rows<true>(band, begin, count, kc, k2, epsilon, 1.0, row_mass.get() + begin, row_cost.get() + begin);
      launch_columns(band, begin, count, kc);
    }
    std::vector<double> columns_host(m_, 0.0);
    if (n_ > 0) {
      reduce_partials<<<blocks_for(m_, 256), 256, 0, stream_>>>(partials_.get(), ld_, tiles(), m_, sums_.get());
      check_launch();
      TASKREL_CUDA_CHECK(cudaStreamSynchronize(stream_));
      sums_.download(columns_host.data(), m_);
    }
    std::vector<double> mass(n_), cost(n_), f(n_), g(m_);
    TASKREL_CUDA_CHECK(cudaStreamSynchronize(stream_));
    row_mass.download(mass.data(), n_);
    row_cost.download(cost.data(), n_);
    f_.download(f.data(), n_);
    g_.download(g.data(), m_);

    summarise_plan(comm_, options_, epsilon, a_, b_, f, g, PlanMeasurements{std::move(mass), std::move(cost), std::move(columns_host)},
                   result);
    result.potentials.f = std::move(f);
    result.potentials.g = std::move(g);
  }

 private:
  std::int64_t tiles() const { return round_up(std::max<std::int64_t>(n_, 1), tile_rows_) / tile_rows_; }

  // Fraction of the last wave's slots that hold work, for `units` equal work units.
  static double wave_efficiency(std::int64_t units, std::int64_t slots) {
    if (units <= slots) return 1.0;  // one partial wave: all units run at once
    const std::int64_t waves = (units + slots - 1) / slots;
    return static_cast<double>(units) / static_cast<double>(waves * slots);
  }

  // Rows per warp (row kernel) and rows per tile (column kernel) such that
  // the grids' last waves are nearly full (a half-empty last wave of a
  // bandwidth-bound kernel costs up to a third of its time).
  void choose_launch_shapes() {
    int device = 0, sms = 0, row_blocks = 0, column_blocks = 0;
    TASKREL_CUDA_CHECK(cudaGetDevice(&device));
    TASKREL_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
    TASKREL_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&row_blocks, row_kernel<S, false, 4>, kRowThreads, 0));
    TASKREL_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&column_blocks, column_kernel<S>, kColumnThreads, 0));
    const std::int64_t rows = std::min(cost_.band_rows(), std::max<std::int64_t>(n_, 1));
    const std::int64_t warp_slots = static_cast<std::int64_t>(sms) * row_blocks * (kRowThreads / 32);
    rows_per_warp_ = wave_efficiency((rows + 3) / 4, warp_slots) >= 0.9 ||
                             wave_efficiency((rows + 3) / 4, warp_slots) >= wave_efficiency((rows + 1) / 2, warp_slots)
                         ? 4
                         : 2;
    const std::int64_t column_slots = static_cast<std::int64_t>(sms) * column_blocks;
    const std::int64_t column_groups = (m_ + kColumnThreads * kVector - 1) / (kColumnThreads * kVector);
    double best = -1.0;
    for (int tile : {128, 64, 32}) {
      const double efficiency = wave_efficiency(column_groups * ((rows + tile - 1) / tile), column_slots);
      if (efficiency > best + 0.02) {
        best = efficiency;
        tile_rows_ = tile;
      }
      if (best >= 0.9) break;
    }
  }

  template <bool kEvaluate>
  void launch_rows(const S* band, std::int64_t begin, std::int64_t count, float kc, double k2, double epsilon,
                   double tau_a, double* row_mass, double* row_cost) {
    const std::int64_t warps = (count + rows_per_warp_ - 1) / rows_per_warp_;
    const unsigned blocks = blocks_for(warps * 32, kRowThreads);
    float* fk = kEvaluate ? nullptr : fk_.get() + begin;
    double* error = kEvaluate ? nullptr : row_error_.get() + begin;
    if (rows_per_warp_ == 4)
      row_kernel<S, kEvaluate, 4><<<blocks, kRowThreads, 0, stream_>>>(
          band, ld_, count, m_, gk_.get(), kc, k2, epsilon, tau_a, log_a_.get() + begin, f_.get() + begin, fk, error,
          row_mass, row_cost, cost_.scale());
    else
      row_kernel<S, kEvaluate, 2><<<blocks, kRowThreads, 0, stream_>>>(
          band, ld_, count, m_, gk_.get(), kc, k2, epsilon, tau_a, log_a_.get() + begin, f_.get() + begin, fk, error,
          row_mass, row_cost, cost_.scale());
    check_launch();
  }

  void launch_columns(const S* band, std::int64_t begin, std::int64_t count, float kc) {
    const dim3 grid(blocks_for(m_, kColumnThreads * kVector), static_cast<unsigned>((count + tile_rows_ - 1) / tile_rows_));
    column_kernel<S><<<grid, kColumnThreads, 0, stream_>>>(band, ld_, count, m_, fk_.get() + begin, gk_.get(), kc,
                                                            partials_.get(), begin / tile_rows_, tile_rows_);
    check_launch();
  }

  int rows_per_warp_ = 4;
  int tile_rows_ = 128;
  Communicator& comm_;
  GpuCostBlock<S>& cost_;
  const SinkhornOptions& options_;
  cudaStream_t stream_;
  std::int64_t n_, m_, ld_;
  std::vector<double> a_, b_;
  DeviceArray<double> f_, g_, log_a_, log_b_, row_error_, sums_;
  DeviceArray<float> fk_, gk_, partials_;
  DeviceArray<int> untrusted_;
};

// cuBLAS handle and stream, one per (thread, device), reused by every solve:
// the label-aware solve runs one small problem per class, many times per fit.
struct DeviceContext {
  cudaStream_t stream = nullptr;
  cublasHandle_t blas = nullptr;
  DeviceContext() {
    // A blocking stream: the uploads and memsets of DeviceArray (legacy
    // default stream) stay ordered before the kernels that read them.
    TASKREL_CUDA_CHECK(cudaStreamCreate(&stream));
    TASKREL_CUBLAS_CHECK(cublasCreate(&blas));
    TASKREL_CUBLAS_CHECK(cublasSetStream(blas, stream));
  }
  ~DeviceContext() {
    if (blas != nullptr) cublasDestroy(blas);
    if (stream != nullptr) cudaStreamDestroy(stream);
  }
  DeviceContext(const DeviceContext&) = delete;
  DeviceContext& operator=(const DeviceContext&) = delete;
};

// Deliberately never destroyed: at exit the CUDA runtime may already be torn
// down, and destroying handles then is unsafe.
DeviceContext& device_context() {
  int device = 0;
  TASKREL_CUDA_CHECK(cudaGetDevice(&device));
  static thread_local std::vector<DeviceContext*> contexts;
  if (static_cast<int>(contexts.size()) <= device) contexts.resize(device + 1, nullptr);
  if (contexts[device] == nullptr) contexts[device] = new DeviceContext();
  return *contexts[device];
}

template <typename S>
SinkhornResult solve_on_device(Communicator& comm, PointCloudView x_local, const std::vector<double>& a_local,
                               PointCloudView y, const std::vector<double>& b, const SinkhornOptions& options,
                               const Potentials* warm_start) {
  const auto started = std::chrono::steady_clock::now();
  // An NCCL communicator has already chosen its GPU; else pick by local rank.
  if (auto* nccl = dynamic_cast<NcclCommunicator*>(&comm)) TASKREL_CUDA_CHECK(cudaSetDevice(nccl->device()));
  else select_device_for_local_rank();
  DeviceContext& context = device_context();
  GpuCostBlock<S> cost(x_local, y, options.cost, options.gpu, context.blas, context.stream);
  const long long global_rows = comm.all_reduce_sum(static_cast<long long>(x_local.rows));
  TASKREL_ASSERT(global_rows > 0 && y.rows > 0, "empty OT problem ({} x {})", global_rows, y.rows);

  const ProblemMasses masses = problem_masses(comm, options, a_local, b);
  SinkhornResult result;
  result.device = Device::kCuda;
  set_cost_scale(comm, options, cost.local_sum(), cost.local_max(), global_rows, y.rows, result);
  result.cost_stored = cost.stored();

  GpuSinkhorn<S> solver(comm, cost, masses.source, masses.target, options, context.stream);
  TASKREL_CUDA_CHECK(cudaStreamSynchronize(context.stream));
  const auto iterating = std::chrono::steady_clock::now();
  result.setup_seconds = std::chrono::duration<double>(iterating - started).count();
  if (warm_start != nullptr) solver.warm_start(*warm_start);
  run_sinkhorn_schedule(solver, options, warm_start != nullptr, result);
  result.iteration_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - iterating).count();
  solver.evaluate(result.epsilon, result);
  if (!std::isfinite(result.transport_cost) || !std::isfinite(result.objective))
    throw RuntimeError(fmt::format(
        "Sinkhorn (CUDA) produced a non-finite transport cost at epsilon {} (mean cost {}): use a larger epsilon or "
        "--device cpu --precision float64",
        result.epsilon, result.mean_cost));
  return result;
}

}  // namespace

SinkhornResult solve_sinkhorn_cuda(Communicator& comm, PointCloudView x_local, const std::vector<double>& a_local,
                                   PointCloudView y, const std::vector<double>& b, const SinkhornOptions& options,
                                   const Potentials* warm_start) {
  switch (options.gpu.storage) {
    case GpuStorage::kFloat32: return solve_on_device<float>(comm, x_local, a_local, y, b, options, warm_start);
    case GpuStorage::kFloat16: return solve_on_device<__half>(comm, x_local, a_local, y, b, options, warm_start);
    case GpuStorage::kBFloat16:
      return solve_on_device<__nv_bfloat16>(comm, x_local, a_local, y, b, options, warm_start);
  }
  TASKREL_ASSERT(false, "unknown GPU storage");
  return {};
}

}  // namespace taskrel::ot
