// The transformation fit (LibTorch): one Adam step per epoch on
// RW + H + lambda_W W + lambda_PM ||P_T - B D||^2 + lambda_IC IC, with W by
// the label-exact solver (sharded over the ranks) or the paper's code's
// exact OT over all points (replicated).
#include "relatedness/transformation.h"

#include <spdlog/spdlog.h>

#include "comm/row_blocks.h"
#include "ot/exact_emd.h"
#include "relatedness/wd_gradient.h"

namespace taskrel::relatedness::detail {

namespace {

// The paper's code's W: one exact OT over all batch points with cost
// c(x_i, y_j) + lambda ||B e_{y_i} - e_{y_j}||, source masses D_{y_i}/n_{R,y_i},
// uniform target masses. Replicated on every rank (no sharding).
StepOt paper_code_step(const Model& m, const torch::Tensor& z, const torch::Tensor& y, const torch::Tensor& n_class,
                      const Split& target, std::int64_t kt, const RelateOptions& options) {
  const auto x = z.matmul(m.A.t()) + m.b;
  const auto zt = rows_tensor(target.z, target.rows, target.dim);
  const auto yt = labels_tensor(target.y);
  auto feature = options.cost == ot::GroundCost::kEuclidean
                     ? torch::cdist(x.to(torch::kFloat64), zt.to(torch::kFloat64))
                     : torch::cdist(x.to(torch::kFloat64), zt.to(torch::kFloat64)).pow(2);
  const auto label_cost = torch::cdist(m.B().t().to(torch::kFloat64), torch::eye(kt, torch::kFloat64));  // K_R x K_T
  const auto total = feature + options.paper_code_lambda * label_cost.index({y.unsqueeze(1), yt.unsqueeze(0)});
  const auto a = (m.D() / n_class.clamp_min(1)).index_select(0, y).to(torch::kFloat64);
  const auto a_values = to_doubles(a);
  const std::vector<double> b_values(static_cast<std::size_t>(target.rows), 1.0 / static_cast<double>(target.rows));
  const auto emd = ot::solve_exact_emd(to_doubles(total), z.size(0), target.rows, a_values, b_values);
  std::vector<std::int64_t> src, dst;
  std::vector<double> mass;
  for (const auto& e : emd.plan) {
    src.push_back(e.source);
    dst.push_back(e.target);
    mass.push_back(e.mass);
  }
  const auto s = torch::tensor(src, torch::kInt64), t = torch::tensor(dst, torch::kInt64);
  const auto p = torch::tensor(mass, torch::kFloat64);
  const auto plan_cost = (p * total.index({s, t})).sum();
  StepOt out;
  out.reference_w = (p * feature.index({s, t})).sum().item<double>();
  out.w = out.reference_w;
  out.objective = plan_cost.item<double>();
  if (!m.learned.empty()) {
    // Duals as marginal gradients for D (centred: the masses sum to one).
    auto u = torch::tensor(emd.source_potentials, torch::kFloat64);
    u = u - (u * a.detach()).sum();
    const auto surrogate = plan_cost + (u * a).sum();
    (options.lambda_w * surrogate).backward();
  }
  return out;
}

}  // namespace

StepOt label_exact_step(Communicator& comm, const Model& m, const torch::Tensor& z_local, const torch::Tensor& y_local,
                        const torch::Tensor& n_class, const Split& target, std::int64_t kt,
                        const ot::SinkhornOptions& solver, std::vector<ot::Potentials>* warm, double lambda_w,
                        bool backward) {
  const auto x = z_local.matmul(m.A.t()) + m.b;
  const auto w = class_weights(m, y_local, n_class);
  const auto x_values = to_floats(x);
  ot::LabelAwareProblem problem;
  problem.x_local = ot::PointCloudView{x_values.data(), z_local.size(0), z_local.size(1)};
  problem.class_weights = to_doubles(w);
  problem.y = ot::view_of(target.z, target.rows, target.dim);
  problem.y_labels = target.y;
  problem.num_classes = static_cast<int>(kt);
  const bool use_warm = warm != nullptr && static_cast<std::int64_t>(warm->size()) == kt;
  WdGradient wd = label_exact_wd(comm, problem, solver, use_warm ? warm : nullptr);
  if (warm != nullptr) *warm = std::move(wd.potentials);
  if (backward && !m.learned.empty()) {
    const auto gx = from_doubles(wd.grad_x, z_local.size(0), z_local.size(1));
    const auto gw = from_doubles(wd.grad_w, z_local.size(0), kt);
    const auto surrogate = (x * gx).sum() + (w * gw).sum();
    (lambda_w * surrogate).backward();
  }
  StepOt out;
  out.w = wd.distance;
  out.objective = wd.objective;
  out.mismatch = wd.mass_mismatch;
  out.converged = wd.converged;
  out.iterations = wd.iterations;
  out.epsilon = wd.epsilon;
  return out;
}

void fit_round(Communicator& comm, Model& model, const FitInputs& in, const RelateOptions& options,
               std::mt19937_64& rng, int& epoch_count, RelateResult& result) {
  const std::int64_t kr = in.reference.num_classes, kt = in.target.num_classes, d = in.reference.dim;
  const std::int64_t batch = in.batch;
  const int epochs = in.total_epochs;
  const auto& class_losses_fit = in.class_losses;
  const auto& reference = in.reference;
  const auto solver = sinkhorn_options(options, options.fit_tolerance);
  Split target_fit = in.target.train;
  target_fit.y = in.target_labels;
  const auto target_prior = torch::tensor(prior_of(in.target_labels, kt), torch::kFloat64).to(torch::kFloat32);
  std::vector<ot::Potentials> warm;
  for (int e = 0; e < in.epochs; ++e) {
    ++epoch_count;
    const Split ref_batch = batch_of(reference.train, kr, batch, rng);
    const Split tgt_batch = batch_of(target_fit, kt, batch, rng);
    const auto batch_counts = class_counts(ref_batch.y, kr);
    const auto n_class =
        torch::tensor(std::vector<double>(batch_counts.begin(), batch_counts.end()), torch::kFloat64)
            .to(torch::kFloat32);
    model.optimizer->zero_grad();
    const auto ot_started = Clock::now();
    StepOt step;
    if (options.mode == FitMode::kLabelExact) {
      const RowBlock block = shard_rows(ref_batch.rows, comm.rank(), comm.size());
      const auto z_all = rows_tensor(ref_batch.z, ref_batch.rows, d);
      const auto y_all = labels_tensor(ref_batch.y);
      step = label_exact_step(comm, model, z_all.slice(0, block.begin, block.end),
                              y_all.slice(0, block.begin, block.end), n_class, tgt_batch, kt, solver,
                              batch == 0 ? &warm : nullptr, options.lambda_w, true);
      all_reduce_gradients(comm, model);
    } else {
      step = paper_code_step(model, rows_tensor(ref_batch.z, ref_batch.rows, d), labels_tensor(ref_batch.y), n_class,
                            tgt_batch, kt, options);
      result.reference_w_last = step.reference_w;
    }
    result.seconds_ot += Seconds(Clock::now() - ot_started).count();
    const Terms terms = replicated_terms(model, class_losses_fit, target_prior);
    const auto rest = terms.rw + terms.h + options.lambda_pm * terms.pm + options.lambda_ic * terms.ic;
    rest.backward();
    model.optimizer->step();
    result.objective = rest.item<double>() + options.lambda_w * step.w;
    if (!step.converged) ++result.fit_ot_unconverged_steps;
    result.fit_ot_iterations += step.iterations;
    if (options.log_every > 0 && (epoch_count % options.log_every == 0 || epoch_count == 1 || epoch_count == epochs))
      spdlog::info("epoch {}/{}: objective {:.5g}  RW {:.4g}  H {:.4g}  W {:.4g}  PM {:.3g}  IC {:.3g}  "
                   "|P_T-BD|_1 {:.3g}  OT it {}{}",
                   epoch_count, epochs, result.objective, terms.rw.item<double>(), terms.h.item<double>(), step.w,
                   terms.pm.item<double>(), terms.ic.item<double>(), step.mismatch, step.iterations,
                   step.converged ? "" : " (not converged)");
  }
}

}  // namespace taskrel::relatedness::detail
