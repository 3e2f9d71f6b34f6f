// Every option of one (encoder, reference, target) triple, declared once in
// the table visit_triple_options(): key, help, range and whether it changes
// results. That table is the only list of them: `taskrel relate`'s flags and
// --help (cli/option_flags.h), the job keys of `taskrel matrix` with their
// "did you mean" (matrix/job_spec.cpp), validate_triple_options(), the
// options echoed with every result (options_json) and the journal's result
// hash (result_options_json) all walk it. Adding an option is one line there
// (plus its field, whose initialiser is its default).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "baselines/registry.h"
#include "core/option_table.h"
#include "relatedness/relate_options.h"

namespace taskrel::pipeline {

// The reference head's gradient-norm budget: a number, or "auto" -- the
// bound of every tau0 of the grid (relative to the feature scale) is
// computed and the smallest kept (taskrel's extension: the bound holds for
// every head, so its minimum over heads is a bound too, and a tighter one).
// The default is auto: measured on both bundled zoos it gave the smaller
// (tighter) bound on average and a better transferred classifier, with
// correlation equal or better (README, the validity study); a number gives
// the paper's fixed-tau0 bound.
struct Tau0Choice {
  bool automatic = true;
  double value = 0.02;  // with automatic == false: the paper's value for 512-2048-d features
  bool operator==(const Tau0Choice& other) const { return automatic == other.automatic && value == other.value; }
};

// tau0 values relative to the mean distance between reference points
// (tau0 = kappa / distance): kappa is how much the head's loss may change
// across a typical distance, the same for every encoder whatever its
// dimension or scale (the paper's 0.02 at d = 512 and 0.2 at d = 200 are
// kappa of about 0.6 and 4).
struct Tau0Grid {
  std::vector<double> relative = {0.25, 1.0, 4.0};
  bool operator==(const Tau0Grid& other) const { return relative == other.relative; }
};

// The baseline estimators to compute beside relatedness (names of the
// baselines registry, in its order).
struct MetricSelection {
  std::vector<std::string> names = baselines::metric_names();
  bool operator==(const MetricSelection& other) const { return names == other.names; }
};

struct TripleOptions {
  relatedness::RelateOptions relate;  // relate.head.seed is set from relate.seed by validation
  bool standardize = true;
  bool train_head = false;             // train even when the store has a head
  double target_fraction = 1.0;        // stratified fraction of the target train split
  Tau0Choice tau0;                     // the head's budget; relate.head.tau0 is set from it per head
  Tau0Grid tau0_grid;
  // Where the OT solves run; unset: cuda when built with it and a GPU is
  // visible, else cpu. Validation resolves it (here and into relate.device),
  // so results and the result hash name the device that ran.
  std::optional<ot::Device> device;
  // Storage of the OT cost blocks; unset: ot::default_cost_precision of the
  // device. Resolved by validation as device is (and into relate.precision).
  std::optional<ot::CostPrecision> precision;
  int threads = 0;                     // LibTorch threads per rank (0: OMP_NUM_THREADS, else cores / ranks)
  // On the target train split after the fraction; none with pseudo-labels.
  MetricSelection metrics;
};

// The table. `Options` is TripleOptions or const TripleOptions; `visit` is
// called with one options::Option<T> per option, in --help order.
template <typename Options, typename Visit>
void visit_triple_options(Options& o, Visit&& visit) {
  using options::above;
  using options::at_least;
  using options::Effect;
  using options::interval;
  using options::option;
  using options::Section;
  auto& r = o.relate;
  visit(option("setting", r.setting, "What is learned: learned-all (A, b, Abar, B, D), learned-A (A, b, Abar; B a "
               "fixed matching, D = P_R) or fixed-all (nothing: the untransformed bound)"));
  visit(option("mode", r.mode, "W_d during the fit: label-exact (label by label, DESIGN 1.5) or paper-code (one OT "
               "with a 1e6-weighted label cost, as the paper's code; alias: reference)"));
  visit(option("cost", r.cost, "Ground cost c of W_d"));
  visit(option("epochs", r.epochs, "Most epochs of the transformation fit (it stops earlier when converged)",
               Effect::kResult, at_least(0)));
  visit(option("tolerance", r.tolerance,
               "The fit has converged when its objective changed by less than this fraction over 10 epochs",
               Effect::kResult, above(0)));
  visit(option("seed", r.seed, "Seed of every random choice", Effect::kResult, at_least(0), Section::kTop));
  visit(option("pseudo_labels", r.pseudo_labels,
               "Do not fit on the target labels: k-means start, then alternate fitting and relabelling (K_T from "
               "the store's num_classes); reports the agreement with the stored labels"));
  visit(option("pseudo_rounds", r.pseudo_rounds, "Relabelling rounds with pseudo_labels", Effect::kResult,
               at_least(0)));
  visit(option("target_fraction", o.target_fraction, "Stratified fraction of the target train split to fit on",
               Effect::kResult, interval(0, 1, true, false)));
  visit(option("tau0", o.tau0,
               "Gradient-norm threshold of the reference head's penalty (>= 0; the paper used 0.02 for 512-2048-d "
               "features), or auto: the smallest bound over tau0_grid"));
  visit(option("tau0_grid", o.tau0_grid,
               "tau0 auto: the candidates, relative to the mean distance between reference points (comma list)"));
  visit(option("gamma", r.head.gamma, "Weight of the reference head's gradient-norm penalty", Effect::kResult,
               at_least(0)));
  visit(option("standardize", o.standardize, "Standardise each task with its own train mean and std"));
  visit(option("train_head", o.train_head, "Train the reference head even when the store has one"));
  visit(option("head_epochs", r.head.max_epochs, "Most Adam epochs of the reference head's training",
               Effect::kResult, at_least(0)));
  visit(option("batch_size", r.batch_size,
               "Points per side of the fit (label-exact: a fixed stratified subset; 0: all up to 250,000 pairs, "
               "else max(500, 2 d); paper-code: minibatches, 0: 500)",
               Effect::kResult, at_least(0)));
  visit(option("eval_points", r.eval_points, "Cap (per side, stratified) on the points of the reported W_d",
               Effect::kResult, at_least(1)));
  visit(option("epsilon", r.epsilon, "Sinkhorn epsilon, relative to the mean cost", Effect::kResult, above(0)));
  visit(option("lambda_w", r.lambda_w, "paper-code mode: weight of W in its objective (label-exact uses tau itself)", Effect::kResult, at_least(0)));
  visit(option("lambda_pm", r.lambda_pm, "paper-code mode: weight of ||P_T - B D||^2 (label-exact has B D = P_T exactly)", Effect::kResult, at_least(0)));
  visit(option("lambda_ic", r.lambda_ic, "paper-code mode: weight of the invertibility term (label-exact has Abar = A^-1)", Effect::kResult, at_least(0)));
  visit(option("lr", r.lr, "Adam learning rate of A, b (paper-code: also Abar, B)", Effect::kResult, above(0)));
  visit(option("lr_d", r.lr_d, "paper-code mode: Adam learning rate of D", Effect::kResult, above(0)));
  visit(option("metrics", o.metrics, "Baseline estimators computed beside relatedness (higher = more "
               "transferable; relatedness is lower = more transferable): all, none, or a comma list"));
  visit(option("log_every", r.log_every, "Log the objective terms every N epochs (0: never)", Effect::kRunOnly,
               at_least(0)));
  visit(option("device", o.device, "Where the OT solves run: cpu or cuda (default: cuda when built with it and a "
               "GPU is visible, else cpu); the transformation fit runs on the CPU. In the result hash: a matrix "
               "does not resume on another device", Effect::kResult, options::any(), Section::kTop));
  visit(option("precision", o.precision, "Storage of the OT cost blocks: float64 or float32 on the CPU (exponentials "
               "in float64), float32, float16 or bfloat16 on cuda (exponentials in float32; 16-bit: relative error "
               "<= 2^-11 float16, 2^-8 bfloat16); auto: float32 on the CPU, float16 on cuda. Another device's "
               "precision is refused", Effect::kResult));
  visit(option("threads", o.threads, "LibTorch threads per rank (0: OMP_NUM_THREADS, else cores / ranks)",
               Effect::kRunOnly, at_least(0), Section::kTop));
}

// Receives each problem with the option's key and section, so the caller can
// say where it is (a flag; a job key with its line): "must be >= 0 (got -1)".
using ProblemSink = std::function<void(const char* key, options::Section section, const std::string& problem)>;

// Checks every range of the table and the options that depend on each other
// or on the build (device cuda without the backend or a GPU); reports each
// problem to `report`. Then resolves relate.device and relate.head.seed.
void validate_triple_options(TripleOptions& options, const ProblemSink& report);

// As above, throwing one InputError "<where>: <problem>; <problem>" when
// anything is wrong (for callers without their own locations).
void validate_triple_options(TripleOptions& options, const std::string& where);

// The options that change results, as canonical JSON (keys = job keys):
// what every result echoes and what the journal's hash is taken of.
nlohmann::json result_options_json(const TripleOptions& options);

}  // namespace taskrel::pipeline

namespace taskrel::options {

template <>
struct OptionCodec<pipeline::MetricSelection> {
  static constexpr bool accepts_list = true;
  static constexpr bool accepts_number = false;
  static std::string text(const pipeline::MetricSelection& value);
  static pipeline::MetricSelection parse(const std::string& text);
  static std::vector<std::string> choices() { return {}; }
  static std::string help() { return "; names: " + baselines::metric_help(); }
  static nlohmann::json json(const pipeline::MetricSelection& value) { return value.names; }
};

template <>
struct OptionCodec<pipeline::Tau0Choice> {
  static constexpr bool accepts_list = false;
  static constexpr bool accepts_number = true;
  static std::string text(const pipeline::Tau0Choice& value);
  static pipeline::Tau0Choice parse(const std::string& text);
  static std::vector<std::string> choices() { return {}; }
  static std::string help() { return ""; }
  static nlohmann::json json(const pipeline::Tau0Choice& value) {
    return value.automatic ? nlohmann::json("auto") : nlohmann::json(value.value);
  }
};

template <>
struct OptionCodec<pipeline::Tau0Grid> {
  static constexpr bool accepts_list = true;
  static constexpr bool accepts_number = true;
  static std::string text(const pipeline::Tau0Grid& value);
  static pipeline::Tau0Grid parse(const std::string& text);
  static std::vector<std::string> choices() { return {}; }
  static std::string help() { return ""; }
  static nlohmann::json json(const pipeline::Tau0Grid& value) { return value.relative; }
};

// An enum whose unset value ("auto") validation resolves: device, precision.
template <typename E>
struct OptionCodec<std::optional<E>> {
  static_assert(std::is_enum_v<E>);
  static constexpr bool accepts_list = false;
  static constexpr bool accepts_number = false;
  static std::string text(const std::optional<E>& value) { return value ? enum_name(*value) : "auto"; }
  static std::optional<E> parse(const std::string& text) {
    if (text == "auto") return std::nullopt;
    return parse_enum<E>(text);
  }
  static std::vector<std::string> choices() {
    std::vector<std::string> names = enum_choices<E>();
    names.push_back("auto");
    return names;
  }
  static std::string help() { return ""; }
  static nlohmann::json json(const std::optional<E>& value) { return text(value); }
};

}  // namespace taskrel::options
