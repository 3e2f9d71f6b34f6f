#include "relatedness/wd_gradient.h"

#include <algorithm>
#include <cmath>

#include <Eigen/Dense>

#include "core/error.h"

namespace taskrel::relatedness {

WdGradient label_exact_wd(Communicator& comm, const ot::LabelAwareProblem& problem,
                          const ot::SinkhornOptions& options, const std::vector<ot::Potentials>* warm_start) {
  using RowMatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const int classes = problem.num_classes;
  const std::int64_t n = problem.x_local.rows;
  const std::int64_t dim = problem.y.dim;
  const ot::LabelAwareResult solved = ot::solve_label_aware(comm, problem, options, warm_start);

  WdGradient out;
  out.distance = solved.distance;
  out.mass_mismatch = solved.mass_mismatch;
  out.converged = solved.converged;
  out.iterations = solved.iterations;
  out.grad_x.assign(static_cast<std::size_t>(n * dim), 0.0);
  out.grad_w.assign(static_cast<std::size_t>(n * classes), 0.0);
  out.potentials.resize(classes);

  // sum_i a_ik f_i over all ranks, for the normalisation of the weight gradient.
  std::vector<double> mean_f(classes, 0.0);
  for (int k = 0; k < classes; ++k) {
    const ot::ClassTransport& c = solved.classes[k];
    out.potentials[k] = c.transport.potentials;
    if (!c.solved) continue;
    for (std::size_t r = 0; r < c.source_rows.size(); ++r)
      mean_f[k] += problem.class_weights[c.source_rows[r] * classes + k] / c.source_mass * c.transport.potentials.f[r];
  }
  comm.all_reduce(mean_f.data(), mean_f.size(), ReduceOp::kSum);

  const bool squared = options.cost == ot::GroundCost::kSquaredEuclidean;
  for (int k = 0; k < classes; ++k) {
    const ot::ClassTransport& c = solved.classes[k];
    if (!c.solved) continue;
    const double prior = c.target_mass;
    const double eps = c.transport.epsilon;
    out.epsilon = std::max(out.epsilon, eps);
    out.objective += prior * c.transport.objective;
    const auto& f = c.transport.potentials.f;
    const auto& g = c.transport.potentials.g;
    for (std::size_t r = 0; r < c.source_rows.size(); ++r)
      out.grad_w[c.source_rows[r] * classes + k] = prior * (f[r] - mean_f[k]) / c.source_mass;

    // Cost and gradient GEMMs in float32 (the exponent's error from the
    // cost's rounding is ~1e-7 * ||x||^2 / eps, far below what a gradient
    // step needs); the plan entries and the sums in float64.
    const auto mk = static_cast<Eigen::Index>(c.target_rows.size());
    RowMatrixF y(mk, dim);
    for (Eigen::Index j = 0; j < mk; ++j)
      std::copy_n(problem.y.row(c.target_rows[j]), dim, y.row(j).data());
    const Eigen::VectorXf y_norm = y.rowwise().squaredNorm();

    const auto rows = static_cast<std::int64_t>(c.source_rows.size());
    constexpr std::int64_t kChunk = 1024;
    for (std::int64_t begin = 0; begin < rows; begin += kChunk) {
      const std::int64_t end = std::min(rows, begin + kChunk);
      const Eigen::Index nb = end - begin;
      RowMatrixF x(nb, dim);
      for (Eigen::Index i = 0; i < nb; ++i)
        std::copy_n(problem.x_local.row(c.source_rows[begin + i]), dim, x.row(i).data());
      const Eigen::VectorXf x_norm = x.rowwise().squaredNorm();
      RowMatrixF cross(nb, mk);
      cross.noalias() = x * y.transpose();
      RowMatrixF weight(nb, mk);  // P_ij times the factor of (x_i - y_j) in grad_x c
      Eigen::VectorXd weight_sum = Eigen::VectorXd::Zero(nb);
      for (Eigen::Index i = 0; i < nb; ++i) {
        const double fi = f[begin + i];
        for (Eigen::Index j = 0; j < mk; ++j) {
          const double squared_distance =
              std::max(0.0, static_cast<double>(x_norm[i]) + y_norm[j] - 2.0 * static_cast<double>(cross(i, j)));
          const double cij = squared ? squared_distance : std::sqrt(squared_distance);
          const double p = std::exp((fi + g[j] - cij) / eps);
          const double wij = squared ? 2.0 * p : (cij > 1e-12 ? p / cij : 0.0);
          weight(i, j) = static_cast<float>(wij);
          weight_sum[i] += wij;
        }
      }
      RowMatrixF pulled(nb, dim);
      pulled.noalias() = weight * y;
      for (Eigen::Index i = 0; i < nb; ++i) {
        double* gx = out.grad_x.data() + c.source_rows[begin + i] * dim;
        for (std::int64_t t = 0; t < dim; ++t)
          gx[t] += prior * (weight_sum[i] * static_cast<double>(x(i, t)) - static_cast<double>(pulled(i, t)));
      }
    }
  }
  return out;
}

}  // namespace taskrel::relatedness
