#include "relatedness/task_data.h"

#include <algorithm>
#include <cmath>
#include <numeric>


namespace taskrel::relatedness {

void standardize(TaskData& task) {
  const std::int64_t n = task.train.rows, d = task.dim;
  std::vector<double> mean(d, 0.0), var(d, 0.0);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t c = 0; c < d; ++c) mean[c] += task.train.z[i * d + c];
  for (auto& m : mean) m /= std::max<std::int64_t>(n, 1);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t c = 0; c < d; ++c) {
      const double v = task.train.z[i * d + c] - mean[c];
      var[c] += v * v;
    }
  task.mean.assign(d, 0.0f);
  task.stddev.assign(d, 1.0f);
  for (std::int64_t c = 0; c < d; ++c) {
    const double s = std::sqrt(var[c] / std::max<std::int64_t>(n, 1));
    task.mean[c] = static_cast<float>(mean[c]);
    task.stddev[c] = s > 1e-12 ? static_cast<float>(s) : 1.0f;
  }
  auto apply = [&](Split& split) {
    for (std::int64_t i = 0; i < split.rows; ++i)
      for (std::int64_t c = 0; c < d; ++c) split.z[i * d + c] = (split.z[i * d + c] - task.mean[c]) / task.stddev[c];
  };
  apply(task.train);
  apply(task.test);
}

Split take_rows(const Split& split, const std::vector<std::int64_t>& index) {
  Split out;
  out.dim = split.dim;
  out.rows = static_cast<std::int64_t>(index.size());
  out.z.resize(static_cast<std::size_t>(out.rows * out.dim));
  out.y.resize(index.size());
  for (std::size_t r = 0; r < index.size(); ++r) {
    std::copy_n(split.z.begin() + index[r] * split.dim, split.dim, out.z.begin() + static_cast<std::int64_t>(r) * out.dim);
    out.y[r] = split.y[index[r]];
  }
  return out;
}

}  // namespace taskrel::relatedness
