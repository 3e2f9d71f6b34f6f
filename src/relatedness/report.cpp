// The report of a fitted transformation (LibTorch): the bound's terms and
// every diagnostic on the reported splits (relate.h says what, exactly).
#include "relatedness/transformation.h"

#include "comm/row_blocks.h"

namespace taskrel::relatedness::detail {

void report(Communicator& comm, const Model& model, const TaskData& reference, const Split& target_eval,
            std::int64_t kt, const LinearHead& head, const RelateOptions& options, bool keep_transform,
            RelateResult& result) {
  const std::int64_t kr = reference.num_classes, d = reference.dim;
  const auto eval_started = Clock::now();
  torch::NoGradGuard no_grad;
  HeadReport test_report;
  result.class_losses = evaluate_head(head, reference.test.z, reference.test.y, reference.test.rows, test_report);
  const auto B = model.B().to(torch::kFloat64), D = model.D().to(torch::kFloat64);
  const auto losses = torch::tensor(result.class_losses, torch::kFloat64);
  result.reweighted_loss = (D * losses).sum().item<double>();
  result.label_mismatch = -(D * torch::xlogy(B, B).sum(0)).sum().item<double>();
  result.B = to_doubles(B);
  result.D = to_doubles(D);
  result.target_prior = prior_of(target_eval.y, kt);

  std::mt19937_64 eval_rng(options.seed + 1);
  const Split ref_eval = batch_of(reference.test, kr, options.eval_points, eval_rng);
  const Split tgt_eval = batch_of(target_eval, kt, options.eval_points, eval_rng);
  result.eval_reference_points = ref_eval.rows;
  result.eval_target_points = tgt_eval.rows;
  {
    const RowBlock block = shard_rows(ref_eval.rows, comm.rank(), comm.size());
    const auto z_all = rows_tensor(ref_eval.z, ref_eval.rows, d);
    const auto y_all = labels_tensor(ref_eval.y);
    const auto counts = class_counts(ref_eval.y, kr);
    const auto n_class =
        torch::tensor(std::vector<double>(counts.begin(), counts.end()), torch::kFloat64).to(torch::kFloat32);
    const auto ot_started = Clock::now();
    const StepOt step = label_exact_step(comm, model, z_all.slice(0, block.begin, block.end),
                                         y_all.slice(0, block.begin, block.end), n_class, tgt_eval, kt,
                                         sinkhorn_options(options, options.eval_tolerance), nullptr, 0.0, false);
    result.seconds_ot += Seconds(Clock::now() - ot_started).count();
    result.distribution_mismatch = step.w;
    result.prior_mismatch = step.mismatch;
    result.ot_converged = step.converged;
    result.ot_iterations = step.iterations;
    result.ot_epsilon = step.epsilon;
  }
  {
    torch::AutoGradMode grad_on(true);
    const Transferred t = transferred_classifier(model, head, target_eval, target_eval.y);
    result.tau = t.tau;
    result.target_loss = t.loss;
    result.target_accuracy = t.accuracy;
  }
  result.relatedness = result.reweighted_loss + result.label_mismatch + result.tau * result.distribution_mismatch;
  const auto eye = torch::eye(d);
  result.invertibility_residual = (model.A.detach().matmul(model.Abar.detach()) - eye).norm().item<double>();
  result.transform_shift = (model.A.detach() - eye).norm().item<double>();
  if (keep_transform) {
    result.A = to_doubles(model.A);
    result.b = to_doubles(model.b);
  }
  result.head = test_report;
  result.seconds_eval = Seconds(Clock::now() - eval_started).count();
}

}  // namespace taskrel::relatedness::detail
