#include "relatedness/report.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>

#include "comm/row_blocks.h"
#include "core/error.h"
#include "ot/label_aware.h"
#include "relatedness/label_coupling.h"

namespace taskrel::relatedness {

namespace {

using Clock = std::chrono::steady_clock;

// Stratified subset of a split (all rows when `size` covers it).
Split evaluation_subset(const Split& split, std::int64_t classes, std::int64_t size, std::mt19937_64& rng) {
  if (size <= 0 || size >= split.rows) return split;
  return take_rows(split, stratified_sample(split.y, classes, size, rng));
}

Eigen::VectorXd prior_of(const std::vector<std::int64_t>& y, std::int64_t classes) {
  const auto counts = class_counts(y, classes);
  Eigen::VectorXd p(classes);
  for (std::int64_t k = 0; k < classes; ++k) p[k] = static_cast<double>(counts[k]) / static_cast<double>(y.size());
  return p;
}

std::vector<double> row_major(const Eigen::MatrixXd& m) {
  std::vector<double> out(static_cast<std::size_t>(m.size()));
  Eigen::Map<Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(out.data(), m.rows(), m.cols()) = m;
  return out;
}

}  // namespace

void report(Communicator& comm, const Transformation& theta, const TaskData& reference, const Split& target_eval_split,
            std::int64_t kt, const LinearHead& head, const RelateOptions& options, bool keep_transform,
            RelateResult& result) {
  const auto started = Clock::now();
  const std::int64_t kr = reference.num_classes, d = reference.dim;
  const HeadMatrices h = head_matrices(head);

  std::mt19937_64 eval_rng(options.seed + 1);
  const Split ref_eval = evaluation_subset(reference.test, kr, options.eval_points, eval_rng);
  const Split tgt_eval = evaluation_subset(target_eval_split, kt, options.eval_points, eval_rng);
  result.eval_reference_points = ref_eval.rows;
  result.eval_target_points = tgt_eval.rows;

  // The label part on the reported target prior: B D = P_T exactly when constrained.
  const Eigen::VectorXd target_prior = prior_of(tgt_eval.y, kt);
  const Eigen::MatrixXd pi = label_coupling(theta, target_prior);
  const Eigen::VectorXd D = reweighted_prior(pi);
  const Eigen::MatrixXd B = label_map(pi);
  const Eigen::VectorXd losses = head_class_losses(h, ref_eval.z.data(), ref_eval.y, ref_eval.rows, d, kr);
  result.class_losses.assign(losses.data(), losses.data() + kr);
  result.reweighted_loss = D.dot(losses);
  result.label_mismatch = label_mismatch(pi);
  result.B = row_major(B);
  result.D.assign(D.data(), D.data() + kr);
  result.target_prior.assign(target_prior.data(), target_prior.data() + kt);

  // W_d between this rank's transformed reference points and the target,
  // reference point i carrying pi_{k,y_i} / n_{y_i} in the problem of class k.
  const RowBlock block = shard_rows(ref_eval.rows, comm.rank(), comm.size());
  const Eigen::MatrixXd z_local = as_double(ref_eval.z.data() + block.begin * d, block.size(), d);
  const std::vector<std::int64_t> y_local(ref_eval.y.begin() + block.begin, ref_eval.y.begin() + block.end);
  const Eigen::MatrixXd x_local = to_target_space(theta, z_local);
  const RowMatrixF x_float = x_local.cast<float>();
  const auto counts = class_counts(ref_eval.y, kr);
  ot::LabelAwareProblem problem;
  problem.x_local = ot::PointCloudView{x_float.data(), x_float.rows(), d};
  problem.class_weights.resize(static_cast<std::size_t>(x_float.rows() * kt));
  for (Eigen::Index i = 0; i < x_float.rows(); ++i)
    for (std::int64_t k = 0; k < kt; ++k)
      problem.class_weights[i * kt + k] = pi(k, y_local[i]) / static_cast<double>(counts[y_local[i]]);
  problem.y = ot::view_of(tgt_eval.z, tgt_eval.rows, d);
  problem.y_labels = tgt_eval.y;
  problem.num_classes = static_cast<int>(kt);
  ot::SinkhornOptions solver;
  solver.epsilon = options.epsilon;
  solver.tolerance = options.eval_tolerance;
  solver.max_iterations = options.max_sinkhorn_iterations;
  solver.cost = options.cost;
  solver.memory_budget_bytes = options.memory_budget_bytes;
  solver.device = options.device;
  ot::set_cost_precision(solver, options.precision);
  const auto ot_started = Clock::now();
  const ot::LabelAwareResult transport = ot::solve_label_aware(comm, problem, solver);
  result.seconds_ot += std::chrono::duration<double>(Clock::now() - ot_started).count();
  result.distribution_mismatch = transport.distance;
  result.prior_mismatch = transport.mass_mismatch;
  result.ot_converged = transport.converged;
  result.ot_iterations = transport.iterations;
  result.ot_epsilon = 0;
  for (const auto& c : transport.classes)
    if (c.solved) result.ot_epsilon = std::max(result.ot_epsilon, c.transport.epsilon);

  // The loss f_k of the transferred classifier at the target points and at
  // the transformed reference points (Abar (x - b) = z exactly when Abar = A^{-1}).
  const Eigen::MatrixXd target_points = as_double(tgt_eval.z.data(), tgt_eval.rows, d);
  const Eigen::MatrixXd f_target = losses_in_reference_space(h, B, to_reference_space(theta, target_points));
  const Eigen::MatrixXd f_source = losses_in_reference_space(h, B, to_reference_space(theta, x_local));
  double loss_sum = 0, hits = 0;
  for (std::int64_t j = 0; j < tgt_eval.rows; ++j) {
    loss_sum += f_target(j, tgt_eval.y[j]);
    Eigen::Index best = 0;
    f_target.row(j).minCoeff(&best);
    hits += best == tgt_eval.y[j] ? 1.0 : 0.0;
  }
  result.target_loss = loss_sum / static_cast<double>(tgt_eval.rows);
  result.target_accuracy = hits / static_cast<double>(tgt_eval.rows);

  // E over the transformed reference measure (masses as the transport used
  // them: class k's source masses scaled to its target mass), and the support
  // Lipschitz constant: the largest |f_k(z') - f_k(x)| / c(x, z') over the
  // pairs of every class problem.
  double transformed = 0, tau = 0;
  const bool squared = options.cost == ot::GroundCost::kSquaredEuclidean;
  for (std::int64_t k = 0; k < kt; ++k) {
    const ot::ClassTransport& c = transport.classes[k];
    if (!c.solved) continue;
    for (Eigen::Index i = 0; i < x_local.rows(); ++i)
      transformed += c.target_mass * problem.class_weights[i * kt + k] / c.source_mass * f_source(i, k);
    Eigen::MatrixXd y(static_cast<Eigen::Index>(c.target_rows.size()), d);
    Eigen::VectorXd f_y(y.rows());
    for (Eigen::Index j = 0; j < y.rows(); ++j) {
      y.row(j) = target_points.row(c.target_rows[j]);
      f_y[j] = f_target(c.target_rows[j], k);
    }
    Eigen::MatrixXd cost = ((-2.0 * x_local * y.transpose()).colwise() + x_local.rowwise().squaredNorm()).rowwise() +
                           y.rowwise().squaredNorm().transpose();
    cost = cost.cwiseMax(0.0);
    if (!squared) cost = cost.cwiseSqrt();
    for (Eigen::Index i = 0; i < cost.rows(); ++i)
      for (Eigen::Index j = 0; j < cost.cols(); ++j) {
        const double change = std::abs(f_y[j] - f_source(i, k));
        if (change <= 1e-12) continue;
        tau = std::max(tau, change / std::max(cost(i, j), 1e-300));
      }
  }
  result.transformed_reference_loss = comm.all_reduce_sum(transformed);
  result.tau = comm.all_reduce_max(tau);
  result.tau_global = global_lipschitz(h, theta.Abar).tau;
  result.tau_points = largest_gradient_norm(h, theta, B, target_points, tgt_eval.y);

  result.relatedness = result.reweighted_loss + result.label_mismatch + result.tau * result.distribution_mismatch;
  result.transformed_bound = result.transformed_reference_loss + result.tau * result.distribution_mismatch;
  result.gap = result.relatedness - result.target_loss;
  // Sinkhorn's marginals are exact to its tolerance, not to the last bit.
  result.bound_holds = result.gap >= -1e-6 * (1.0 + std::abs(result.target_loss));
  const Eigen::MatrixXd eye = Eigen::MatrixXd::Identity(d, d);
  result.invertibility_residual = (theta.A * theta.Abar - eye).norm();
  result.transform_shift = (theta.A - eye).norm();
  if (keep_transform) {
    result.A = row_major(theta.A);
    result.b.assign(theta.b.data(), theta.b.data() + d);
  }
  result.seconds_eval = std::chrono::duration<double>(Clock::now() - started).count();
}

}  // namespace taskrel::relatedness
