// Internal to the CUDA backend: the kernels of one Sinkhorn iteration (row
// pass for f, column partials of the updated plan, their ordered reduction,
// the g update, the exact fallbacks) and of the cost block's epilogue.
#pragma once

#include "ot/cuda/device_array.cuh"
#include "ot/sinkhorn_formulas.h"

namespace taskrel::ot::gpu {

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
    if (sum[r] >= kSmallestTrustedRowSum && sum[r] <= kLargestTrustedRowSum) {
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

inline unsigned blocks_for(std::int64_t count, int threads) {
  return static_cast<unsigned>(std::max<std::int64_t>(1, (count + threads - 1) / threads));
}

}  // namespace taskrel::ot::gpu
