#include "relatedness/task_data.h"

#include <algorithm>

#include <Eigen/Dense>

namespace taskrel::relatedness {

namespace {

using RowMatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

Eigen::Map<RowMatrixF> matrix_of(Split& split) { return {split.z.data(), split.rows, split.dim}; }

}  // namespace

void standardize(TaskData& task) {
  const std::int64_t n = std::max<std::int64_t>(task.train.rows, 1);
  const auto train = matrix_of(task.train);
  // Accumulated row by row in float64, so the statistics do not depend on
  // how a vectorised reduction would order the sums.
  Eigen::VectorXd mean = Eigen::VectorXd::Zero(task.dim), var = Eigen::VectorXd::Zero(task.dim);
  for (Eigen::Index i = 0; i < train.rows(); ++i) mean += train.row(i).cast<double>().transpose();
  mean /= static_cast<double>(n);
  for (Eigen::Index i = 0; i < train.rows(); ++i)
    var += (train.row(i).cast<double>().transpose() - mean).array().square().matrix();
  const Eigen::ArrayXd deviation = (var / static_cast<double>(n)).array().sqrt();
  task.mean.resize(task.dim);
  task.stddev.resize(task.dim);
  Eigen::Map<Eigen::VectorXf>(task.mean.data(), task.dim) = mean.cast<float>();
  Eigen::Map<Eigen::VectorXf>(task.stddev.data(), task.dim) = (deviation > 1e-12).select(deviation, 1.0).cast<float>();
  const Eigen::Map<const Eigen::RowVectorXf> mu(task.mean.data(), task.dim), sigma(task.stddev.data(), task.dim);
  for (Split* split : {&task.train, &task.test}) {
    auto z = matrix_of(*split);
    z = (z.rowwise() - mu).array().rowwise() / sigma.array();
  }
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
