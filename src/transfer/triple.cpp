#include "transfer/triple.h"

#include <chrono>
#include <optional>
#include <random>
#include <tuple>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/error.h"
#include "io/head_reader.h"

namespace taskrel::transfer {

namespace {

void check_task(const TaskData& task, const std::string& store, const char* role) {
  if (task.train.rows < task.num_classes)
    throw InputError(fmt::format("{}: /{}/{}/train has {} rows for {} classes (the {} task needs at least one row per class)",
                                 store, task.encoder, task.dataset, task.train.rows, task.num_classes, role));
}

// The stored head acts on raw embeddings; with standardised inputs
// h(z_raw) = W z_raw + c and z_raw = s * z_std + mu give W' = W diag(s), c' = c + W mu.
LinearHead head_for_standardised(const io::StoredHead& stored, const TaskData& reference, bool standardized) {
  LinearHead head;
  head.classes = stored.classes;
  head.dim = stored.dim;
  head.weight = stored.weight;
  head.bias = stored.bias;
  if (standardized)
    for (std::int64_t k = 0; k < head.classes; ++k) {
      double shift = 0.0;
      for (std::int64_t c = 0; c < head.dim; ++c) {
        shift += static_cast<double>(stored.weight[k * head.dim + c]) * reference.mean[c];
        head.weight[k * head.dim + c] = stored.weight[k * head.dim + c] * reference.stddev[c];
      }
      head.bias[k] = static_cast<float>(stored.bias[k] + shift);
    }
  return head;
}

// The baseline estimators on the data a user has when choosing a model: the
// target train split (after the fraction, standardised like relate's input),
// the reference head as the source model, the reference train features for
// OTCE. Every rank computes them (deterministic, no communication), so all
// ranks and all rank counts agree. Returns the total seconds.
double baseline_metrics(const TaskData& reference, const TaskData& target, const LinearHead& head,
                        const TripleOptions& o, nlohmann::json& out, nlohmann::json& seconds_of) {
  out = nlohmann::json::object();
  seconds_of = nlohmann::json::object();
  if (o.metrics.empty()) return 0.0;
  if (o.relate.pseudo_labels) {
    spdlog::info("baseline metrics skipped: they need target labels and --pseudo-labels has none");
    return 0.0;
  }
  auto to_matrix = [](const Split& split) {
    using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    return metrics::Matrix(Eigen::Map<const RowMajor>(split.z.data(), split.rows, split.dim).cast<double>());
  };
  metrics::MetricInput input;
  input.target_features = to_matrix(target.train);
  input.target_labels = target.train.y;
  input.target_classes = target.num_classes;
  input.source_probabilities = metrics::head_probabilities(target.train.z.data(), target.train.rows, target.dim,
                                                           head.weight.data(), head.bias.data(), head.classes);
  input.reference_features = to_matrix(reference.train);
  input.reference_labels = reference.train.y;
  input.reference_classes = reference.num_classes;
  input.seed = o.relate.seed;
  double seconds = 0.0;
  for (const auto& value : metrics::compute_metrics(input, o.metrics)) {
    out[value.name] = value.value;
    seconds_of[value.name] = value.seconds;
    seconds += value.seconds;
  }
  return seconds;
}

}  // namespace

TaskData load_task_uncached(const std::string& store, const std::string& encoder, const std::string& dataset) {
  return load_task(store, encoder, dataset);
}

void finish_triple_options(TripleOptions& options, const std::string& where) {
  auto bad = [&](const std::string& what) { throw InputError(fmt::format("{}: {}", where, what)); };
  try {
    options.relate.mode = parse_fit_mode(options.mode);
    options.relate.setting = parse_setting(options.setting);
    options.relate.cost = ot::parse_ground_cost(options.cost);
  } catch (const InputError& error) {
    bad(error.what());
  }
  try {
    options.relate.device = options.device.empty() ? ot::default_device() : ot::parse_device(options.device);
  } catch (const InputError& error) {
    bad(error.what());
  }
  if (options.relate.device == ot::Device::kCuda && !ot::cuda_device_available())
    bad(ot::cuda_backend_built() ? "device cuda: no GPU is visible to this process"
                                 : "device cuda: this taskrel was built without the CUDA backend "
                                   "(configure with -DTASKREL_CUDA=ON)");
  const RelateOptions& r = options.relate;
  if (!(options.target_fraction > 0 && options.target_fraction <= 1)) bad("target_fraction must be in (0, 1]");
  if (r.epochs < 0) bad("epochs must be >= 0");
  if (r.batch_size < 0) bad("batch_size must be >= 0 (0: automatic)");
  if (r.eval_points < 1) bad("eval_points must be >= 1");
  if (!(r.epsilon > 0)) bad("epsilon must be > 0");
  if (r.pseudo_rounds < 0) bad("pseudo_rounds must be >= 0");
  if (r.head.max_epochs < 0) bad("head_epochs must be >= 0");
  if (!(r.lr > 0) || !(r.lr_d > 0)) bad("lr and lr_d must be > 0");
  if (!(r.lambda_w >= 0) || !(r.lambda_pm >= 0) || !(r.lambda_ic >= 0)) bad("lambda_w, lambda_pm, lambda_ic must be >= 0");
  if (!(r.head.tau0 >= 0) || !(r.head.gamma >= 0)) bad("tau0 and gamma must be >= 0");
  options.relate.head.seed = options.relate.seed;
}

nlohmann::json relate_triple(Communicator& comm, const TripleRequest& request, const TripleOptions& o,
                             const TaskLoader& load, RelateResult* result, HeadMemo* heads) {
  const auto started = std::chrono::steady_clock::now();
  const RelateOptions& options = o.relate;
  const std::string& store = request.reference_store;

  TaskData reference = load(request.reference_store, request.encoder, request.reference);
  TaskData target = load(request.target_store, request.encoder, request.target);
  if (reference.dim != target.dim)
    throw InputError(fmt::format("{}: /{}/{} has d = {} but /{}/{} has d = {} (tasks of one encoder must agree)", store,
                                 request.encoder, request.reference, reference.dim, request.encoder, request.target,
                                 target.dim));
  check_task(reference, request.reference_store, "reference");
  check_task(target, request.target_store, "target");
  const std::int64_t target_rows_full = target.train.rows;
  if (o.target_fraction < 1.0) {
    std::mt19937_64 rng(options.seed + 7);
    target.train =
        take_rows(target.train, stratified_fraction(target.train.y, target.num_classes, o.target_fraction, rng));
    check_task(target, request.target_store, "target");
  }
  // The stored head acts on raw embeddings: read it before standardising.
  std::optional<io::StoredHead> stored;
  if (!o.train_head) stored = io::read_stored_head(store, request.encoder, request.reference);
  if (stored && (stored->classes != reference.num_classes || stored->dim != reference.dim))
    throw InputError(fmt::format("{}: /{}/{}/head is {} x {}, expected {} x {} (classes x d)", store, request.encoder,
                                 request.reference, stored->classes, stored->dim, reference.num_classes, reference.dim));
  if (o.standardize) {
    standardize(reference);
    standardize(target);
  }
  LinearHead head;
  HeadReport head_report;
  // One triple on the command line says which head it used; a zoo run keeps that to -v.
  const auto head_log_level = heads == nullptr ? spdlog::level::info : spdlog::level::debug;
  if (stored) {
    head = head_for_standardised(*stored, reference, o.standardize);
    head_report.from_store = true;
    spdlog::log(head_log_level, "reference head: stored at /{}/{}/head", request.encoder, request.reference);
  } else {
    const std::string memo_key = fmt::format("{}\n{}\n{}", request.reference_store, request.encoder, request.reference);
    if (heads != nullptr && heads->heads.count(memo_key) != 0) {
      std::tie(head, head_report) = heads->heads.at(memo_key);
    } else {
      head = train_head(reference.train.z, reference.train.y, reference.train.rows, reference.dim,
                        reference.num_classes, options.head, head_report);
      if (heads != nullptr) heads->heads[memo_key] = {head, head_report};
    }
    spdlog::log(head_log_level, "reference head: {} epochs{}, train accuracy {:.4f}, CE {:.4f}", head_report.epochs,
                  head_report.converged ? "" : " (not converged)", head_report.train_accuracy, head_report.train_ce);
  }

  RelateResult r = relate(comm, reference, target, head, options);
  nlohmann::json metric_values;
  nlohmann::json metric_seconds_of;
  const double metric_seconds = baseline_metrics(reference, target, head, o, metric_values, metric_seconds_of);
  r.head.from_store = head_report.from_store;
  r.head.epochs = head_report.epochs;
  r.head.converged = head_report.converged;
  r.head.loss = head_report.loss;
  r.head.train_ce = head_report.train_ce;
  r.head.train_accuracy = head_report.train_accuracy;
  r.head.seconds = head_report.seconds;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  nlohmann::json j;
  j["store"] = store;
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
               {"tau0", options.head.tau0}, {"gamma", options.head.gamma}, {"seconds", r.head.seconds}};
  if (options.pseudo_labels) {
    j["pseudo_labels"] = {{"agreement", r.pseudo_label_agreement},
                          {"agreement_by_round", r.pseudo_label_agreement_rounds},
                          {"rounds", options.pseudo_rounds},
                          {"rejected_rounds", r.pseudo_label_rejected_rounds}};
  }
  if (!r.fixed_permutation.empty()) j["fixed_permutation"] = r.fixed_permutation;
  if (options.mode == FitMode::kReference) j["reference_w_last_batch"] = r.reference_w_last;
  j["options"] = {{"setting", o.setting}, {"mode", o.mode}, {"cost", o.cost}, {"epochs", options.epochs},
                  {"batch_size", r.batch_size}, {"eval_points", options.eval_points}, {"epsilon", options.epsilon},
                  {"lambda_w", options.lambda_w}, {"lambda_pm", options.lambda_pm}, {"lambda_ic", options.lambda_ic},
                  {"lr", options.lr}, {"lr_d", options.lr_d}, {"standardize", o.standardize},
                  {"pseudo_labels", options.pseudo_labels}, {"target_fraction", o.target_fraction},
                  {"tau0", options.head.tau0}, {"gamma", options.head.gamma}};
  j["reference_rows"] = {{"train", reference.train.rows}, {"reported", reference.test.rows},
                         {"reported_split", reference.test_split}};
  j["target_rows"] = {{"train_used", target.train.rows}, {"train", target_rows_full}, {"reported", target.test.rows},
                      {"reported_split", options.pseudo_labels ? std::string("train") : target.test_split}};
  // Where the work ran: the OT solves on `options.device`, the LibTorch fit on the CPU.
  j["device"] = {{"ot", ot::to_string(options.device)}, {"fit", "cpu"}};
  j["dim"] = r.dim;
  j["epochs"] = r.epochs;
  j["seed"] = options.seed;
  j["ranks"] = comm.size();
  j["seconds"] = seconds;
  // Higher = more transferable for every baseline; relatedness is the opposite.
  j["metrics"] = metric_values;
  j["timings"] = {{"head", r.head.seconds}, {"fit", r.seconds_fit}, {"report", r.seconds_eval}, {"ot", r.seconds_ot},
                  {"metrics", metric_seconds}};
  j["metric_seconds"] = metric_seconds_of;  // per baseline
  if (result != nullptr) *result = std::move(r);
  return j;
}

}  // namespace taskrel::transfer
