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
#include "metrics/metrics.h"
#include "io/head_reader.h"
#include "transfer/relate.h"
#include "transfer/triple.h"

namespace taskrel::cli {

namespace {

struct RelateCliOptions {
  std::string store, encoder, reference, target;
  bool pseudo_labels = false;
  int pseudo_rounds = 3;
  double target_fraction = 1.0;
  std::string metrics = "all";
  std::string setting = "learned-all";
  std::string mode = "label-exact";
  std::string cost = "euclidean";
  int epochs = 500;
  std::uint64_t seed = 0;
  std::string json;
  std::string device;
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
    c.add_option("--metrics", metrics,
                 "Baseline estimators computed beside relatedness (higher = more transferable; relatedness is "
                 "lower = more transferable): all, none, or a comma list of logme, leep, nleep, nce, hscore, "
                 "shrinkage_hscore, transrate, gbc, sfda, pactran, otce, ot_nce")
        ->capture_default_str();
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
    c.add_option("--device", device,
                 "Where the OT solves run: cpu or cuda (default: cuda when built with it and a GPU is visible, else "
                 "cpu); the transformation fit runs on the CPU")
        ->check(CLI::IsMember({"cpu", "cuda"}));
    c.add_option("--threads", threads, "Threads per rank (0: OMP_NUM_THREADS, else cores / ranks)");
  }
};

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
  transfer::configure_threads(o.threads, world.size());
  transfer::TripleOptions triple;
  transfer::RelateOptions& options = triple.relate;
  triple.setting = o.setting;
  triple.mode = o.mode;
  triple.cost = o.cost;
  triple.standardize = !o.no_standardize;
  triple.train_head = o.train_head;
  triple.target_fraction = o.target_fraction;
  triple.device = o.device;
  try {
    triple.metrics = metrics::parse_metric_selection(o.metrics);
  } catch (const InputError& error) {
    throw InputError(fmt::format("--metrics: {}", error.what()));
  }
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
  options.head.max_epochs = o.head_epochs;
  if (!(o.target_fraction > 0)) throw InputError("--target-fraction must be in (0, 1]");
  transfer::finish_triple_options(triple, "taskrel relate");

  // Loading, standardising, the head and the JSON are shared with `taskrel matrix`.
  transfer::RelateResult r;
  const transfer::TripleRequest request{o.store, o.store, o.encoder, o.reference, o.target};
  const nlohmann::json j = transfer::relate_triple(world, request, triple, transfer::load_task_uncached, &r);
  const double seconds = j["seconds"].get<double>();
  const std::string target_split = j["target_rows"]["reported_split"].get<std::string>();

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
                               o.pseudo_labels ? "train (pseudo-labels)" : target_split, r.target_loss,
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
      std::cout << fmt::format("  time {:.2f} s (head {:.2f}, fit {:.2f}, report {:.2f}; OT {:.2f} on {}, fit on cpu)\n",
                               seconds, r.head.seconds, r.seconds_fit, r.seconds_eval, r.seconds_ot,
                               j["device"]["ot"].get<std::string>());
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
