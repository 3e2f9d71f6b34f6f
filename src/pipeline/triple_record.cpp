#include "pipeline/triple_record.h"

namespace taskrel::pipeline {

nlohmann::json triple_record(const TripleRequest& request, const TripleOptions& o,
                             const relatedness::RelateResult& r, const BaselineScores& scores,
                             const TripleSizes& sizes, const Tau0Report& tau0, int ranks, double seconds) {
  const relatedness::RelateOptions& options = o.relate;
  nlohmann::json j;
  j["store"] = request.reference_store;
  j["encoder"] = request.encoder;
  j["reference"] = request.reference;
  j["target"] = request.target;
  j["relatedness"] = r.relatedness;
  j["reweighted_loss"] = r.reweighted_loss;
  j["label_mismatch"] = r.label_mismatch;
  j["distribution_mismatch"] = r.distribution_mismatch;
  j["tau"] = r.tau;
  // The third term of the bound as it enters it, so each term can be ranked alone.
  j["tau_distribution_mismatch"] = r.tau * r.distribution_mismatch;
  j["target_loss"] = r.target_loss;
  j["target_accuracy"] = r.target_accuracy;
  j["prior_mismatch"] = r.prior_mismatch;
  j["invertibility_residual"] = r.invertibility_residual;
  j["transform_shift"] = r.transform_shift;
  j["objective"] = r.objective;
  // How tight the bound is on the reported points: the left side of the
  // theorem is target_loss, so gap >= 0 is the bound holding.
  j["gap"] = r.gap;
  j["bound_holds"] = r.bound_holds;
  j["transformed_reference_loss"] = r.transformed_reference_loss;
  j["transformed_bound"] = r.transformed_bound;
  j["tau_global"] = r.tau_global;
  j["tau_points"] = r.tau_points;
  j["tau0"] = {{"value", tau0.chosen}, {"automatic", tau0.automatic}};
  if (tau0.automatic) {
    j["tau0"]["relative"] = tau0.chosen_relative;
    j["tau0"]["reference_distance"] = tau0.reference_distance;
    j["tau0"]["candidates"] = nlohmann::json::array();
    for (const auto& c : tau0.candidates)
      j["tau0"]["candidates"].push_back({{"tau0", c.tau0}, {"relative", c.relative}, {"relatedness", c.relatedness},
                                         {"target_loss", c.target_loss}, {"converged", c.converged}});
  }
  j["fit"] = {{"converged", r.fit_converged}, {"epochs", r.epochs}, {"objective", r.objective},
              {"points_per_side", r.batch_size}};
  j["B"] = nlohmann::json::array();
  for (std::int64_t k = 0; k < r.target_classes; ++k)
    j["B"].push_back(std::vector<double>(r.B.begin() + k * r.ref_classes, r.B.begin() + (k + 1) * r.ref_classes));
  j["D"] = r.D;
  j["target_prior"] = r.target_prior;
  j["reference_prior"] = r.reference_prior;
  j["reference_class_losses"] = r.class_losses;
  j["ot"] = {{"converged", r.ot_converged}, {"iterations", r.ot_iterations}, {"epsilon", r.ot_epsilon},
             {"fit_iterations", r.fit_ot_iterations}, {"fit_unconverged_steps", r.fit_ot_unconverged_steps},
             {"epsilon_relative", options.epsilon}, {"reference_points", r.eval_reference_points},
             {"target_points", r.eval_target_points}};
  j["head"] = {{"from_store", r.head.from_store}, {"epochs", r.head.epochs}, {"converged", r.head.converged},
               {"train_accuracy", r.head.train_accuracy}, {"train_loss", r.head.train_ce},
               {"test_accuracy", r.head.test_accuracy}, {"test_loss", r.head.test_ce},
               {"lipschitz", r.head.lipschitz}, {"spectral_norm", r.head.spectral_norm},
               {"tau0", tau0.chosen}, {"gamma", options.head.gamma}, {"seconds", r.head.seconds}};
  if (options.pseudo_labels) {
    j["pseudo_labels"] = {{"agreement", r.pseudo_label_agreement},
                          {"agreement_by_round", r.pseudo_label_agreement_rounds},
                          {"rounds", options.pseudo_rounds},
                          {"rejected_rounds", r.pseudo_label_rejected_rounds}};
  }
  if (!r.fixed_permutation.empty()) j["fixed_permutation"] = r.fixed_permutation;
  if (options.mode == relatedness::FitMode::kPaperCode) j["reference_w_last_batch"] = r.reference_w_last;
  // Every option that changes results, from the option table; batch_size is
  // the one the fit used (0: full data), which an automatic choice resolves.
  j["options"] = result_options_json(o);
  j["options"].erase("version");
  j["options"]["batch_size"] = r.batch_size;
  j["reference_rows"] = {{"train", sizes.reference_train}, {"reported", sizes.reference_reported},
                         {"reported_split", sizes.reference_reported_split}};
  j["target_rows"] = {{"train_used", sizes.target_train_used}, {"train", sizes.target_train_full},
                      {"reported", sizes.target_reported}, {"reported_split", sizes.target_reported_split}};
  // Where the work ran: the OT solves on `options.device` with cost blocks
  // stored in `options.precision`, the LibTorch fit on the CPU.
  j["device"] = {{"ot", enum_name(options.device)}, {"precision", enum_name(options.precision)}, {"fit", "cpu"}};
  j["dim"] = r.dim;
  j["epochs"] = r.epochs;
  j["seed"] = options.seed;
  j["ranks"] = ranks;
  j["seconds"] = seconds;
  // Higher = more transferable for every baseline; relatedness is the opposite.
  double metric_seconds = 0.0;
  j["metrics"] = nlohmann::json::object();
  j["metric_seconds"] = nlohmann::json::object();  // per baseline
  for (const auto& value : scores.values) {
    j["metrics"][value.name] = value.value;
    j["metric_seconds"][value.name] = value.seconds;
    metric_seconds += value.seconds;
  }
  j["timings"] = {{"head", r.head.seconds}, {"fit", r.seconds_fit}, {"report", r.seconds_eval}, {"ot", r.seconds_ot},
                  {"metrics", metric_seconds}};
  return j;
}

}  // namespace taskrel::pipeline
