// `taskrel relate`: task relatedness of one (encoder, reference, target)
// triple (DESIGN.md section 1). Every rank loads both tasks; the OT work of
// the fit and of the report is sharded over the ranks.
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <thread>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "core/error.h"
#include "io/head_reader.h"
#include "transfer/relate.h"

namespace taskrel::cli {

namespace {

struct RelateCliOptions {
  std::string store, encoder, reference, target;
  bool pseudo_labels = false;
  int pseudo_rounds = 3;
  double target_fraction = 1.0;
  std::string setting = "learned-all";
  std::string mode = "label-exact";
  std::string cost = "euclidean";
  int epochs = 500;
  std::uint64_t seed = 0;
  std::string json;
  double tau0 = 0.02, gamma = 1e4;
  bool no_standardize = false;
  bool train_head = false;
  int head_epochs = 3000;
  std::int64_t batch_size = 0;
  std::int64_t eval_points = 4000;
  double epsilon = 0.05;
  double lambda_w = 2.0, lambda_pm = 1.0, lambda_ic = 1.0;
  double lr = 1e-2, lr_d = 1e-3;
  int log_every = 10;
  int threads = 0;

  void add_to(CLI::App& c) {
    c.add_option("--store", store, "Embedding store (HDF5)")->required();
    c.add_option("--encoder", encoder, "Encoder group in the store")->required();
    c.add_option("--reference", reference, "Reference task (dataset) R")->required();
    c.add_option("--target", target, "Target task (dataset) T")->required();
    c.add_flag("--pseudo-labels", pseudo_labels,
               "Do not fit on the target labels: k-means start, then alternate fitting and relabelling "
               "(K_T from the store's num_classes); reports agreement with the stored labels");
    c.add_option("--pseudo-rounds", pseudo_rounds, "Relabelling rounds with --pseudo-labels")->capture_default_str();
    c.add_option("--target-fraction", target_fraction, "Stratified fraction of the target train split to fit on")
        ->check(CLI::Range(0.0, 1.0))->capture_default_str();
    c.add_option("--setting", setting, "What is learned")
        ->check(CLI::IsMember({"learned-all", "learned-A", "fixed-all"}))->capture_default_str();
    c.add_option("--mode", mode, "W_d during the fit: label-exact (DESIGN 1.5) or reference (the paper's code)")
        ->check(CLI::IsMember({"label-exact", "reference"}))->capture_default_str();
    c.add_option("--cost", cost, "Ground cost c")->check(CLI::IsMember({"euclidean", "sqeuclidean"}))->capture_default_str();
    c.add_option("--epochs", epochs, "Adam steps of the transformation fit")->check(CLI::NonNegativeNumber)->capture_default_str();
    c.add_option("--seed", seed, "Seed of every random choice")->capture_default_str();
    c.add_option("--json", json, "Write the result as JSON to this file ('-' for stdout)");
    c.add_option("--tau0", tau0, "Gradient-norm threshold of the head penalty")->capture_default_str();
    c.add_option("--gamma", gamma, "Weight of the head's gradient-norm penalty")->capture_default_str();
    c.add_flag("--no-standardize", no_standardize, "Do not standardise each task with its train mean/std");
    c.add_flag("--train-head", train_head, "Train the reference head even when the store has one");
    c.add_option("--head-epochs", head_epochs, "Most Adam epochs of the head training")->capture_default_str();
    c.add_option("--batch-size", batch_size,
                 "Points per side per step for W_d (0: full data up to 1e6 pairs, else 500; reference mode: 500)")
        ->capture_default_str();
    c.add_option("--eval-points", eval_points, "Cap (per side, stratified) on the points of the reported W_d")
        ->capture_default_str();
    c.add_option("--epsilon", epsilon, "Sinkhorn epsilon, relative to the mean cost")->capture_default_str();
    c.add_option("--lambda-w", lambda_w, "Weight of W in the objective")->capture_default_str();
    c.add_option("--lambda-pm", lambda_pm, "Weight of ||P_T - B D||^2")->capture_default_str();
    c.add_option("--lambda-ic", lambda_ic, "Weight of the invertibility term")->capture_default_str();
    c.add_option("--lr", lr, "Adam learning rate of A, b, Abar, B")->capture_default_str();
    c.add_option("--lr-d", lr_d, "Adam learning rate of D")->capture_default_str();
    c.add_option("--log-every", log_every, "Log the objective terms every N epochs (0: never)")->capture_default_str();
    c.add_option("--threads", threads, "Threads per rank (0: OMP_NUM_THREADS, else cores / ranks)");
  }
};

void check_task(const transfer::TaskData& task, const std::string& store, const char* role) {
  if (task.train.rows < task.num_classes)
    throw InputError(fmt::format("{}: /{}/{}/train has {} rows for {} classes (the {} task needs at least one row per class)",
                                 store, task.encoder, task.dataset, task.train.rows, task.num_classes, role));
}

std::string matrix_table(const std::vector<double>& values, std::int64_t rows, std::int64_t cols) {
  std::string out = "        ";
  for (std::int64_t j = 0; j < cols; ++j) out += fmt::format(" R{:<5}", j);
  out += "\n";
  for (std::int64_t k = 0; k < rows; ++k) {
    out += fmt::format("    T{:<3}", k);
    for (std::int64_t j = 0; j < cols; ++j) out += fmt::format(" {:6.3f}", values[k * cols + j]);
    out += "\n";
  }
  return out;
}

int run_relate(const RelateCliOptions& o, MpiCommunicator& world) {
  const auto started = std::chrono::steady_clock::now();
  transfer::configure_threads(o.threads, world.size());
  transfer::RelateOptions options;
  options.mode = transfer::parse_fit_mode(o.mode);
  options.setting = transfer::parse_setting(o.setting);
  options.cost = ot::parse_ground_cost(o.cost);
  options.epochs = o.epochs;
  options.seed = o.seed;
  options.lambda_w = o.lambda_w;
  options.lambda_pm = o.lambda_pm;
  options.lambda_ic = o.lambda_ic;
  options.lr = o.lr;
  options.lr_d = o.lr_d;
  options.batch_size = o.batch_size;
  options.eval_points = o.eval_points;
  options.epsilon = o.epsilon;
  options.pseudo_labels = o.pseudo_labels;
  options.pseudo_rounds = o.pseudo_rounds;
  options.log_every = o.log_every;
  options.head.tau0 = o.tau0;
  options.head.gamma = o.gamma;
  options.head.seed = o.seed;
  options.head.max_epochs = o.head_epochs;
  if (!(o.target_fraction > 0)) throw InputError("--target-fraction must be in (0, 1]");

  transfer::TaskData reference = transfer::load_task(o.store, o.encoder, o.reference);
  transfer::TaskData target = transfer::load_task(o.store, o.encoder, o.target);
  if (reference.dim != target.dim)
    throw InputError(fmt::format("{}: /{}/{} has d = {} but /{}/{} has d = {} (tasks of one encoder must agree)",
                                 o.store, o.encoder, o.reference, reference.dim, o.encoder, o.target, target.dim));
  check_task(reference, o.store, "reference");
  check_task(target, o.store, "target");
  std::int64_t target_rows_full = target.train.rows;
  if (o.target_fraction < 1.0) {
    std::mt19937_64 rng(o.seed + 7);
    target.train = transfer::take_rows(
        target.train, transfer::stratified_fraction(target.train.y, target.num_classes, o.target_fraction, rng));
    check_task(target, o.store, "target");
  }
  // The stored head acts on raw embeddings: read it before standardising.
  std::optional<io::StoredHead> stored;
  if (!o.train_head) stored = io::read_stored_head(o.store, o.encoder, o.reference);
  if (stored && (stored->classes != reference.num_classes || stored->dim != reference.dim))
    throw InputError(fmt::format("{}: /{}/{}/head is {} x {}, expected {} x {} (classes x d)", o.store, o.encoder,
                                 o.reference, stored->classes, stored->dim, reference.num_classes, reference.dim));
  if (!o.no_standardize) {
    transfer::standardize(reference);
    transfer::standardize(target);
  }
  transfer::LinearHead head;
  transfer::HeadReport head_report;
  if (stored) {
    // h(z_raw) = W z_raw + c with z_raw = s * z_std + mu: W' = W diag(s), c' = c + W mu.
    head.classes = stored->classes;
    head.dim = stored->dim;
    head.weight = stored->weight;
    head.bias = stored->bias;
    if (!o.no_standardize)
      for (std::int64_t k = 0; k < head.classes; ++k) {
        double shift = 0.0;
        for (std::int64_t c = 0; c < head.dim; ++c) {
          shift += static_cast<double>(stored->weight[k * head.dim + c]) * reference.mean[c];
          head.weight[k * head.dim + c] = stored->weight[k * head.dim + c] * reference.stddev[c];
        }
        head.bias[k] = static_cast<float>(stored->bias[k] + shift);
      }
    head_report.from_store = true;
    spdlog::info("reference head: stored at /{}/{}/head", o.encoder, o.reference);
  } else {
    head = transfer::train_head(reference.train.z, reference.train.y, reference.train.rows, reference.dim,
                                reference.num_classes, options.head, head_report);
    spdlog::info("reference head: {} epochs{}, train accuracy {:.4f}, CE {:.4f}", head_report.epochs,
                 head_report.converged ? "" : " (not converged)", head_report.train_accuracy, head_report.train_ce);
  }

  transfer::RelateResult r = transfer::relate(world, reference, target, head, options);
  r.head.from_store = head_report.from_store;
  r.head.epochs = head_report.epochs;
  r.head.converged = head_report.converged;
  r.head.loss = head_report.loss;
  r.head.train_ce = head_report.train_ce;
  r.head.train_accuracy = head_report.train_accuracy;
  r.head.seconds = head_report.seconds;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  nlohmann::json j;
  j["store"] = o.store;
  j["encoder"] = o.encoder;
  j["reference"] = o.reference;
  j["target"] = o.target;
  j["relatedness"] = r.relatedness;
  j["reweighted_loss"] = r.reweighted_loss;
  j["label_mismatch"] = r.label_mismatch;
  j["distribution_mismatch"] = r.distribution_mismatch;
  j["tau"] = r.tau;
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
               {"tau0", o.tau0}, {"gamma", o.gamma}, {"seconds", r.head.seconds}};
  if (o.pseudo_labels) {
    j["pseudo_labels"] = {{"agreement", r.pseudo_label_agreement}, {"agreement_by_round", r.pseudo_label_agreement_rounds},
                          {"rounds", o.pseudo_rounds}, {"rejected_rounds", r.pseudo_label_rejected_rounds}};
  }
  if (!r.fixed_permutation.empty()) j["fixed_permutation"] = r.fixed_permutation;
  if (options.mode == transfer::FitMode::kReference) j["reference_w_last_batch"] = r.reference_w_last;
  j["options"] = {{"setting", o.setting}, {"mode", o.mode}, {"cost", o.cost}, {"epochs", o.epochs},
                  {"batch_size", r.batch_size}, {"eval_points", o.eval_points}, {"epsilon", o.epsilon},
                  {"lambda_w", o.lambda_w}, {"lambda_pm", o.lambda_pm}, {"lambda_ic", o.lambda_ic}, {"lr", o.lr},
                  {"lr_d", o.lr_d}, {"standardize", !o.no_standardize}, {"pseudo_labels", o.pseudo_labels},
                  {"target_fraction", o.target_fraction}, {"tau0", o.tau0}, {"gamma", o.gamma}};
  j["reference_rows"] = {{"train", reference.train.rows}, {"reported", reference.test.rows},
                         {"reported_split", reference.test_split}};
  j["target_rows"] = {{"train_used", target.train.rows}, {"train", target_rows_full}, {"reported", target.test.rows},
                      {"reported_split", o.pseudo_labels ? std::string("train") : target.test_split}};
  j["dim"] = r.dim;
  j["epochs"] = r.epochs;
  j["seed"] = o.seed;
  j["ranks"] = world.size();
  j["seconds"] = seconds;
  j["timings"] = {{"head", r.head.seconds}, {"fit", r.seconds_fit}, {"report", r.seconds_eval}, {"ot", r.seconds_ot}};

  if (world.rank() == 0) {
    if (!o.json.empty()) {
      if (o.json == "-") {
        std::cout << j.dump(2) << std::endl;
      } else {
        std::ofstream file(o.json);
        if (!file) throw InputError(fmt::format("{}: cannot write the JSON result", o.json));
        file << j.dump(2) << "\n";
        if (!file) throw RuntimeError(fmt::format("{}: write failed", o.json));
      }
    }
    if (o.json != "-") {
      std::cout << fmt::format("task relatedness  {} -> {} under {}  ({}, {}, {} cost, {} epochs, seed {})\n",
                               o.reference, o.target, o.encoder, o.setting, o.mode, o.cost, r.epochs, o.seed);
      std::cout << fmt::format("  relatedness            {:.6f}  = RW + H + tau * W_d\n", r.relatedness);
      std::cout << fmt::format("  reweighted loss  RW    {:.6f}\n", r.reweighted_loss);
      std::cout << fmt::format("  label mismatch   H     {:.6f}\n", r.label_mismatch);
      std::cout << fmt::format("  distribution     W_d   {:.6f}  (tau {:.6f}, tau * W_d {:.6f})\n",
                               r.distribution_mismatch, r.tau, r.tau * r.distribution_mismatch);
      std::cout << fmt::format("  transferred classifier on {} {}: CE {:.6f}, accuracy {:.4f}\n", o.target,
                               o.pseudo_labels ? "train (pseudo-labels)" : target.test_split, r.target_loss,
                               r.target_accuracy);
      std::cout << fmt::format("  prior mismatch ||P_T - B D||_1 {:.4g}, ||A Abar - I||_F {:.4g}, OT {} ({} it)\n",
                               r.prior_mismatch, r.invertibility_residual,
                               r.ot_converged ? "converged" : "NOT converged", r.ot_iterations);
      std::cout << fmt::format("  reference head ({}): accuracy {:.4f}, CE {:.4f}, Lipschitz {:.4g} (tau0 {}, gamma {})\n",
                               r.head.from_store ? "stored" : "trained", r.head.test_accuracy, r.head.test_ce,
                               r.head.lipschitz, o.tau0, o.gamma);
      if (o.pseudo_labels)
        std::cout << fmt::format("  pseudo-label agreement with stored labels {:.4f} (up to permutation)\n",
                                 r.pseudo_label_agreement);
      if (r.target_classes <= 12 && r.ref_classes <= 12)
        std::cout << "  B = P(target label | reference label):\n" << matrix_table(r.B, r.target_classes, r.ref_classes);
      std::cout << fmt::format("  time {:.2f} s (head {:.2f}, fit {:.2f}, report {:.2f}; OT {:.2f})\n", seconds,
                               r.head.seconds, r.seconds_fit, r.seconds_eval, r.seconds_ot);
    }
  }
  return kExitSuccess;
}

}  // namespace

void add_relate_command(CLI::App& root, CommandAction& action) {
  auto options = std::make_shared<RelateCliOptions>();
  CLI::App* command = root.add_subcommand(
      "relate", "Task relatedness of one (encoder, reference, target): RW + H + tau * W_d (Mehra, Zhang & Hamm)");
  options->add_to(*command);
  command->callback([options, &action]() {
    action = [options](MpiCommunicator& world) { return run_relate(*options, world); };
  });
}

}  // namespace taskrel::cli
