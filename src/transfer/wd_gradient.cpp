#include "transfer/wd_gradient.h"

#include <algorithm>
#include <cmath>

#include <Eigen/Dense>

#include "core/error.h"

namespace taskrel::transfer {

WdGradient label_exact_wd(Communicator& comm, const ot::LabelAwareProblem& problem,
                          const ot::SinkhornOptions& options, const std::vector<ot::Potentials>* warm_start) {
  using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
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

    const auto mk = static_cast<Eigen::Index>(c.target_rows.size());
    RowMatrix y(mk, dim);
    for (Eigen::Index j = 0; j < mk; ++j)
      for (std::int64_t t = 0; t < dim; ++t) y(j, t) = problem.y.row(c.target_rows[j])[t];
    const Eigen::VectorXd y_norm = y.rowwise().squaredNorm();
    const Eigen::Map<const Eigen::VectorXd> g_vec(g.data(), mk);

    const auto rows = static_cast<std::int64_t>(c.source_rows.size());
    constexpr std::int64_t kChunk = 1024;
    for (std::int64_t begin = 0; begin < rows; begin += kChunk) {
      const std::int64_t end = std::min(rows, begin + kChunk);
      const Eigen::Index nb = end - begin;
      RowMatrix x(nb, dim);
      for (Eigen::Index i = 0; i < nb; ++i)
        for (std::int64_t t = 0; t < dim; ++t) x(i, t) = problem.x_local.row(c.source_rows[begin + i])[t];
      RowMatrix cost = -2.0 * x * y.transpose();
      cost.colwise() += x.rowwise().squaredNorm();
      cost.rowwise() += y_norm.transpose();
      cost = cost.cwiseMax(0.0);
      RowMatrix weight(nb, mk);  // P_ij times the factor of (x_i - y_j) in grad_x c
      for (Eigen::Index i = 0; i < nb; ++i) {
        const double fi = f[begin + i];
        for (Eigen::Index j = 0; j < mk; ++j) {
          const double cij = squared ? cost(i, j) : std::sqrt(cost(i, j));
          const double p = std::exp((fi + g_vec[j] - cij) / eps);
          weight(i, j) = squared ? 2.0 * p : (cij > 1e-12 ? p / cij : 0.0);
        }
      }
      const RowMatrix grad = (x.array().colwise() * weight.rowwise().sum().array()).matrix() - weight * y;
      for (Eigen::Index i = 0; i < nb; ++i) {
        double* gx = out.grad_x.data() + c.source_rows[begin + i] * dim;
        for (std::int64_t t = 0; t < dim; ++t) gx[t] += prior * grad(i, t);
      }
    }
  }
  return out;
}

}  // namespace taskrel::transfer
