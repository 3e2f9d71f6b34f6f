// Non-owning views of the point clouds and weights an OT problem is posed on.
// Points are float32, row-major (one point per row), as the embedding store
// delivers them; weights are float64 because masses of rare classes can be
// tiny and their logarithms enter every Sinkhorn update.
#pragma once

#include <cstdint>
#include <vector>

namespace taskrel::ot {

struct PointCloudView {
  const float* data = nullptr;  // rows x dim, row-major
  std::int64_t rows = 0;
  std::int64_t dim = 0;
  const float* row(std::int64_t i) const { return data + i * dim; }
};

inline PointCloudView view_of(const std::vector<float>& values, std::int64_t rows, std::int64_t dim) {
  return PointCloudView{values.data(), rows, dim};
}

}  // namespace taskrel::ot
