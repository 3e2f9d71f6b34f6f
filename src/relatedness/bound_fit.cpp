#include "relatedness/bound_fit.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>

#include <spdlog/spdlog.h>

#include "comm/row_blocks.h"
#include "core/error.h"
#include "ot/label_aware.h"
#include "relatedness/label_coupling.h"

namespace taskrel::relatedness {

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kWindow = 10;          // epochs over which the objective must settle
constexpr int kLabelSubsteps = 1;    // mirror-descent steps on the logits per epoch
constexpr int kInnerSteps = 25;      // Adam steps on the majoriser of the (A, b) problem per epoch
constexpr double kBeta1 = 0.9, kBeta2 = 0.999;
constexpr double kNegligibleShare = 1e-12;
constexpr double kDecisionMargin = 1e-9;  // relative: changes smaller than this count as none

// Cost rows of x (rows x d, double) against y (cols x d, float), in double
// from a float GEMM of the cross terms (as the OT engine's cost blocks).
Eigen::MatrixXd cost_matrix(const Eigen::MatrixXd& x, const RowMatrixF& y, const Eigen::VectorXd& y_norms,
                            bool squared) {
  const RowMatrixF xf = x.cast<float>();
  const Eigen::MatrixXd cross = (xf * y.transpose()).cast<double>();
  Eigen::MatrixXd c = (-2.0 * cross).colwise() + x.rowwise().squaredNorm();
  c.rowwise() += y_norms.transpose();
  c = c.cwiseMax(0.0);
  if (!squared) c = c.cwiseSqrt();
  return c;
}

// One target class's problem as the fit holds it between epochs: the target
// points of the class and the plan of this rank's reference rows against
// them (the plan of the last Sinkhorn, held fixed by the (A, b) step).
struct ClassPlan {
  RowMatrixF y;              // target points of the class
  Eigen::VectorXd y_norms;
  double prior = 0;          // P_T(k)
  std::vector<Eigen::Index> rows;  // the local reference rows with mass in this class
  bool all_rows = true;            // rows is every local row (no gathering needed)
  Eigen::MatrixXd plan;      // rows x class points, sums to 1 over all ranks
  Eigen::MatrixXd cost;      // the cost at the transformed points the plan was solved for
};

// The rows `rows` of x.
Eigen::MatrixXd rows_of(const Eigen::MatrixXd& x, const std::vector<Eigen::Index>& rows) {
  Eigen::MatrixXd out(static_cast<Eigen::Index>(rows.size()), x.cols());
  for (std::size_t r = 0; r < rows.size(); ++r) out.row(static_cast<Eigen::Index>(r)) = x.row(rows[r]);
  return out;
}

class BoundFit {
 public:
  BoundFit(Communicator& comm, const BoundFitInputs& in, const RelateOptions& options, Transformation& theta,
           RelateResult& result)
      : comm_(comm), in_(in), options_(options), theta_(theta), result_(result),
        squared_(options.cost == ot::GroundCost::kSquaredEuclidean) {
    const std::int64_t d = in.reference.dim;
    const RowBlock block = shard_rows(in.reference.rows, comm.rank(), comm.size());
    z_local_ = as_double(in.reference.z.data() + block.begin * d, block.size(), d);
    y_local_.assign(in.reference.y.begin() + block.begin, in.reference.y.begin() + block.end);
    z_hat_.resize(z_local_.rows(), d + 1);
    z_hat_ << z_local_, Eigen::VectorXd::Ones(z_local_.rows());
    const auto counts = class_counts(in.reference.y, in.reference_classes);
    reference_counts_ = Eigen::Map<const Eigen::Matrix<std::int64_t, Eigen::Dynamic, 1>>(
                            counts.data(), static_cast<Eigen::Index>(counts.size()))
                            .cast<double>();
    const auto target_counts = class_counts(in.target.y, in.target_classes);
    target_prior_.resize(in.target_classes);
    for (std::int64_t k = 0; k < in.target_classes; ++k)
      target_prior_[k] = static_cast<double>(target_counts[k]) / static_cast<double>(in.target.rows);
    classes_.resize(in.target_classes);
    for (std::int64_t k = 0; k < in.target_classes; ++k) {
      std::vector<std::int64_t> rows;
      for (std::int64_t j = 0; j < in.target.rows; ++j)
        if (in.target.y[j] == k) rows.push_back(j);
      ClassPlan& c = classes_[k];
      c.prior = target_prior_[k];
      c.y.resize(static_cast<Eigen::Index>(rows.size()), d);
      for (std::size_t r = 0; r < rows.size(); ++r)
        c.y.row(static_cast<Eigen::Index>(r)) = Eigen::Map<const Eigen::RowVectorXf>(in.target.z.data() + rows[r] * d, d);
      c.y_norms = c.y.cast<double>().rowwise().squaredNorm();
    }
    solver_.epsilon = options.epsilon;
    solver_.tolerance = options.fit_tolerance;
    solver_.max_iterations = options.fit_max_iterations;
    solver_.cost = options.cost;
    solver_.memory_budget_bytes = options.memory_budget_bytes;
    solver_.device = options.device;
    ot::set_cost_precision(solver_, options.precision);
  }

  void run() {
    const auto started = Clock::now();
    std::deque<double> history;
    double previous = std::numeric_limits<double>::infinity();
    int epoch = 0;
    bool converged = !in_.learn_map && !in_.learn_labels;
    for (; epoch < in_.max_epochs && !converged; ++epoch) {
      const Eigen::MatrixXd pi = coupling_of(theta_.coupling_logits, target_prior_);
      const double w = solve_plans(pi);
      const GlobalLipschitz tau = global_lipschitz(in_.head, theta_.A.inverse());
      const double rw = reweighted_prior(pi).dot(in_.class_losses);
      const double h = label_mismatch(pi);
      const double objective = rw + h + tau.tau * w;
      result_.objective = objective;
      // Relative margins keep these decisions off rounding noise, so that rank
      // counts (which sum in another order) take the same ones.
      if (objective > previous + kDecisionMargin * std::abs(previous)) label_step_ = std::max(label_step_ * 0.5, 1e-4);
      else label_step_ = std::min(label_step_ * 1.05, 0.5);
      previous = objective;
      history.push_back(objective);
      if (static_cast<int>(history.size()) > kWindow + 1) history.pop_front();
      if (options_.log_every > 0 && (epoch % options_.log_every == 0))
        spdlog::info("epoch {}/{}: bound objective {:.6g}  RW {:.4g}  H {:.4g}  tau_global {:.4g}  W {:.4g}  OT it {}",
                     epoch + 1, in_.max_epochs, objective, rw, h, tau.tau, w, last_iterations_);
      if (static_cast<int>(history.size()) == kWindow + 1 && last_converged_ &&
          std::abs(history.front() - history.back()) <= options_.tolerance * std::abs(history.back())) {
        converged = true;
        break;
      }
      if (in_.learn_map) map_step(tau);
      if (in_.learn_labels) label_steps(pi, global_lipschitz(in_.head, theta_.A.inverse()).tau);
    }
    theta_.Abar = theta_.A.inverse();
    result_.epochs += epoch;
    result_.fit_converged = converged;
    result_.seconds_fit += std::chrono::duration<double>(Clock::now() - started).count();
  }

 private:
  // The label-aware Sinkhorn at the current theta; keeps each class's plan
  // for the (A, b) step and the dual means F for the label step. Returns
  // W = sum_k P_T(k) <P^k, C^k>, the plans' transport cost -- the quantity the
  // report calls W_d (collective).
  double solve_plans(const Eigen::MatrixXd& pi) {
    const auto started = Clock::now();
    const std::int64_t kt = in_.target_classes, d = in_.reference.dim;
    x_local_ = to_target_space(theta_, z_local_);
    const RowMatrixF x_float = x_local_.cast<float>();
    ot::LabelAwareProblem problem;
    problem.x_local = ot::PointCloudView{x_float.data(), x_float.rows(), d};
    problem.class_weights.resize(static_cast<std::size_t>(x_float.rows() * kt));
    for (Eigen::Index i = 0; i < x_float.rows(); ++i)
      for (std::int64_t k = 0; k < kt; ++k) {
        // A reference class carrying less than 1e-12 of a target class's
        // largest share takes no part in that class's problem: such masses
        // change nothing measurable but slow Sinkhorn to a crawl.
        const double share = pi(k, y_local_[i]);
        problem.class_weights[i * kt + k] =
            share >= kNegligibleShare * pi.row(k).maxCoeff() ? share / reference_counts_[y_local_[i]] : 0.0;
      }
    problem.y = ot::view_of(in_.target.z, in_.target.rows, d);
    problem.y_labels = in_.target.y;
    problem.num_classes = static_cast<int>(kt);
    const bool warm = static_cast<std::int64_t>(warm_.size()) == kt;
    const ot::LabelAwareResult solved = ot::solve_label_aware(comm_, problem, solver_, warm ? &warm_ : nullptr);
    warm_.assign(static_cast<std::size_t>(kt), {});
    last_converged_ = solved.converged;
    last_iterations_ = solved.iterations;
    result_.fit_ot_iterations += solved.iterations;
    if (!solved.converged) ++result_.fit_ot_unconverged_steps;

    double w = 0.0;
    dual_means_ = Eigen::MatrixXd::Zero(kt, in_.reference_classes);
    for (std::int64_t k = 0; k < kt; ++k) {
      const ot::ClassTransport& c = solved.classes[k];
      warm_[k] = c.transport.potentials;
      ClassPlan& plan = classes_[k];
      if (!c.solved) {
        plan.plan.resize(0, 0);
        continue;
      }
      // Rows whose mass underflowed to zero in this class take no part in it.
      plan.rows.assign(c.source_rows.begin(), c.source_rows.end());
      plan.all_rows = static_cast<Eigen::Index>(plan.rows.size()) == x_local_.rows();
      w += plan.prior * c.transport.transport_cost;
      const auto n = static_cast<Eigen::Index>(plan.rows.size());
      const Eigen::Map<const Eigen::VectorXd> f(c.transport.potentials.f.data(), n);
      const Eigen::Map<const Eigen::RowVectorXd> g(c.transport.potentials.g.data(), plan.y.rows());
      plan.cost = cost_of(plan, x_local_);
      // In float: Eigen's vectorised exp (double exp is scalar glibc); the
      // plan only weights the (A, b) step.
      plan.plan = ((((-plan.cost).colwise() + f).rowwise() + g) / c.transport.epsilon).cast<float>().array().exp().cast<double>();
      for (Eigen::Index r = 0; r < n; ++r) dual_means_(k, y_local_[plan.rows[r]]) += f[r];
    }
    comm_.all_reduce(dual_means_.data(), static_cast<std::size_t>(dual_means_.size()), ReduceOp::kSum);
    for (Eigen::Index j = 0; j < dual_means_.cols(); ++j) dual_means_.col(j) /= std::max(reference_counts_[j], 1.0);
    result_.seconds_ot += std::chrono::duration<double>(Clock::now() - started).count();
    return w;
  }

  // The cost of a class's rows of x against its target points.
  Eigen::MatrixXd cost_of(const ClassPlan& c, const Eigen::MatrixXd& x) const {
    return cost_matrix(c.all_rows ? x : rows_of(x, c.rows), c.y, c.y_norms, squared_);
  }

  // sum_k P_T(k) <P^k, C^k(x)> over all ranks, the plans held fixed.
  double plan_cost(const Eigen::MatrixXd& x) {
    double s = 0.0;
    for (const ClassPlan& c : classes_)
      if (c.plan.size() > 0) s += c.prior * (c.plan.array() * cost_of(c, x).array()).sum();
    return comm_.all_reduce_sum(s);
  }

  // The (A, b) step with the plans fixed (header comment, step 2).
  void map_step(const GlobalLipschitz& tau) {
    const Eigen::Index d = z_local_.cols();
    // Reweighted least squares: weights omega_ij = P_ij / c_ij (euclidean) or 2 P_ij (squared).
    Eigen::VectorXd omega = Eigen::VectorXd::Zero(x_local_.rows());
    Eigen::MatrixXd pulled = Eigen::MatrixXd::Zero(x_local_.rows(), d);  // sum_j omega_ij y_j
    double s0 = 0.0;
    for (const ClassPlan& c : classes_) {
      if (c.plan.size() == 0) continue;
      const Eigen::MatrixXd& cost = c.cost;  // at x_local_, as the plan
      s0 += c.prior * (c.plan.array() * cost.array()).sum();
      const Eigen::MatrixXd weight =
          squared_ ? Eigen::MatrixXd(2.0 * c.prior * c.plan)
                   : Eigen::MatrixXd(c.prior * c.plan.array() / cost.array().max(1e-9 * (1.0 + cost.mean())));
      const Eigen::VectorXd row_weight = weight.rowwise().sum();
      const Eigen::MatrixXd row_pull = (weight.cast<float>() * c.y).cast<double>();
      for (std::size_t r = 0; r < c.rows.size(); ++r) {
        omega[c.rows[r]] += row_weight[static_cast<Eigen::Index>(r)];
        pulled.row(c.rows[r]) += row_pull.row(static_cast<Eigen::Index>(r));
      }
    }
    Eigen::MatrixXd gram = z_hat_.transpose() * omega.asDiagonal() * z_hat_;  // (d+1) x (d+1)
    Eigen::MatrixXd target_moment = pulled.transpose() * z_hat_;             // d x (d+1)
    comm_.all_reduce(gram.data(), static_cast<std::size_t>(gram.size()), ReduceOp::kSum);
    comm_.all_reduce(target_moment.data(), static_cast<std::size_t>(target_moment.size()), ReduceOp::kSum);
    s0 = comm_.all_reduce_sum(s0);
    gram.diagonal().array() += 1e-10 * (1.0 + gram.diagonal().mean());
    const Eigen::LDLT<Eigen::MatrixXd> normal(gram);

    Eigen::MatrixXd m0(d, d + 1);
    m0 << theta_.A, theta_.b;
    // The IRLS majoriser of the plan cost: Q(M) = S0 + q(M) - q(M0) with
    // q(M) = tr(M H M^T) / 2 - tr(M YZ^T) >= the plan cost, equal at M0. tau * Q
    // is minimised by preconditioned gradient steps on (d+1)^2 numbers (no pass
    // over the points), then the true tau * <P, C> must have decreased.
    auto q = [&](const Eigen::MatrixXd& m) {
      return 0.5 * (m * gram).cwiseProduct(m).sum() - m.cwiseProduct(target_moment).sum();
    };
    const double q0 = q(m0);
    auto majoriser = [&](const Eigen::MatrixXd& m) { return s0 + q(m) - q0; };
    auto tau_of = [&](const Eigen::MatrixXd& m, GlobalLipschitz& out, Eigen::MatrixXd& inverse) {
      const Eigen::PartialPivLU<Eigen::MatrixXd> lu(m.leftCols(d));
      if (!(std::abs(lu.determinant()) > 0)) return false;
      inverse = lu.inverse();
      out = global_lipschitz(in_.head, inverse);
      return std::isfinite(out.tau);
    };
    Eigen::MatrixXd m = m0, inverse = theta_.A.inverse();
    GlobalLipschitz t = tau;
    double value = t.tau * majoriser(m);
    // Adam on tau * Q: its per-entry step normalisation copes with the very
    // different curvatures of Q (the points) and of tau (A's inverse along
    // the head's row differences), which defeat a single preconditioner.
    if (adam_m_.size() == 0) {
      adam_m_ = Eigen::MatrixXd::Zero(d, d + 1);
      adam_v_ = Eigen::MatrixXd::Zero(d, d + 1);
    }
    for (int inner = 0; inner < kInnerSteps; ++inner) {
      // d tau / d A = -v s^T / tau with v = A^{-T} u, s = A^{-1} v, u the attaining row difference.
      const Eigen::VectorXd u = (in_.head.W.row(t.first) - in_.head.W.row(t.second)).transpose();
      const Eigen::VectorXd v = inverse.transpose() * u;
      const Eigen::VectorXd sv = inverse * v;
      Eigen::MatrixXd gradient = t.tau * (m * gram - target_moment);
      if (t.tau > 0) gradient.leftCols(d) -= majoriser(m) * v * sv.transpose() / t.tau;
      ++adam_steps_;
      adam_m_ = kBeta1 * adam_m_ + (1 - kBeta1) * gradient;
      adam_v_ = kBeta2 * adam_v_ + (1 - kBeta2) * gradient.cwiseAbs2();
      const double correction1 = 1 - std::pow(kBeta1, adam_steps_), correction2 = 1 - std::pow(kBeta2, adam_steps_);
      const Eigen::MatrixXd candidate =
          m - options_.lr * ((adam_m_ / correction1).array() / ((adam_v_ / correction2).array().sqrt() + 1e-8)).matrix();
      GlobalLipschitz t_candidate;
      Eigen::MatrixXd inverse_candidate;
      if (!tau_of(candidate, t_candidate, inverse_candidate)) break;
      m = candidate;
      t = t_candidate;
      inverse = inverse_candidate;
      value = t.tau * majoriser(m);
    }
    // Accept the move if the true plan cost agrees; else shorten it.
    const double before = tau.tau * s0;
    for (double shrink = 1.0; shrink > 1.0 / 64; shrink *= 0.5) {
      const Eigen::MatrixXd candidate = m0 + shrink * (m - m0);
      GlobalLipschitz t_candidate;
      Eigen::MatrixXd inverse_candidate;
      if (!tau_of(candidate, t_candidate, inverse_candidate)) continue;
      Transformation trial = theta_;
      trial.A = candidate.leftCols(d);
      trial.b = candidate.col(d);
      const double after = t_candidate.tau * plan_cost(to_target_space(trial, z_local_));
      spdlog::debug("map step x{}: tau * <P, C> {:.6g} -> {:.6g} (majoriser {:.6g})", shrink, before, after, value);
      if (std::isfinite(after) && after < before - kDecisionMargin * std::abs(before)) {
        theta_.A = trial.A;
        theta_.b = trial.b;
        return;
      }
    }
  }

  // Mirror descent on the coupling logits with W linearised (step 3).
  void label_steps(const Eigen::MatrixXd& /*pi at the plans*/, double tau) {
    for (int s = 0; s < kLabelSubsteps; ++s) {
      const Eigen::MatrixXd pi = coupling_of(theta_.coupling_logits, target_prior_);
      const Eigen::MatrixXd g = coupling_gradient(pi, in_.class_losses, tau, dual_means_);
      // The natural gradient of a row's softmax: subtract the row's mean under q.
      for (Eigen::Index k = 0; k < g.rows(); ++k) {
        const double mean = target_prior_[k] > 0 ? (pi.row(k).array() * g.row(k).array()).sum() / target_prior_[k] : 0;
        theta_.coupling_logits.row(k).array() -= label_step_ * (g.row(k).array() - mean);
      }
    }
  }

  Communicator& comm_;
  const BoundFitInputs& in_;
  const RelateOptions& options_;
  Transformation& theta_;
  RelateResult& result_;
  bool squared_;
  Eigen::MatrixXd z_local_, z_hat_, x_local_;
  std::vector<std::int64_t> y_local_;
  Eigen::VectorXd reference_counts_, target_prior_;
  std::vector<ClassPlan> classes_;
  Eigen::MatrixXd dual_means_;
  std::vector<ot::Potentials> warm_;
  ot::SinkhornOptions solver_;
  bool last_converged_ = true;
  int last_iterations_ = 0;
  double label_step_ = 0.1;
  Eigen::MatrixXd adam_m_, adam_v_;  // Adam's moments for [A b], kept across epochs
  long long adam_steps_ = 0;
};

}  // namespace

void fit_bound(Communicator& comm, const BoundFitInputs& inputs, const RelateOptions& options, Transformation& theta,
               RelateResult& result) {
  BoundFit(comm, inputs, options, theta, result).run();
}

}  // namespace taskrel::relatedness
