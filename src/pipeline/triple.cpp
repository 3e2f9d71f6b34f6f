#include "pipeline/triple.h"

#include <algorithm>
#include <chrono>
#include <random>

#include <Eigen/Dense>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/error.h"
#include "pipeline/task_loading.h"
#include "pipeline/triple_record.h"

namespace taskrel::pipeline {

using relatedness::Split;
using relatedness::TaskData;

namespace {

void check_task(const TaskData& task, const std::string& store, const char* role) {
  if (task.train.rows < task.num_classes)
    throw InputError(fmt::format("{}: /{}/{}/train has {} rows for {} classes (the {} task needs at least one row per class)",
                                 store, task.encoder, task.dataset, task.train.rows, task.num_classes, role));
}

// The baseline estimators on the data a user has when choosing a model: the
// target train split (after the fraction, standardised like relate's input),
// the reference head as the source model, the reference train features for
// OTCE. Every rank computes them (deterministic, no communication), so all
// ranks and all rank counts agree.
BaselineScores baseline_scores(const TaskData& reference, const TaskData& target, const relatedness::LinearHead& head,
                               const TripleOptions& o) {
  BaselineScores scores;
  if (o.metrics.names.empty()) return scores;
  if (o.relate.pseudo_labels) {
    spdlog::info("baseline metrics skipped: they need target labels and --pseudo-labels has none");
    return scores;
  }
  auto to_matrix = [](const Split& split) {
    using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    return baselines::Matrix(Eigen::Map<const RowMajor>(split.z.data(), split.rows, split.dim).cast<double>());
  };
  baselines::MetricInput input;
  input.target_features = to_matrix(target.train);
  input.target_labels = target.train.y;
  input.target_classes = target.num_classes;
  input.source_probabilities = baselines::head_probabilities(target.train.z.data(), target.train.rows, target.dim,
                                                             head.weight.data(), head.bias.data(), head.classes);
  input.reference_features = to_matrix(reference.train);
  input.reference_labels = reference.train.y;
  input.reference_classes = reference.num_classes;
  input.seed = o.relate.seed;
  scores.values = baselines::compute_metrics(input, o.metrics.names);
  return scores;
}

// The mean euclidean distance between points of a split (on a seeded sample
// of at most 1000 rows: the scale tau0 auto's grid is relative to).
double mean_distance(const Split& split, std::uint64_t seed) {
  std::mt19937_64 rng(seed + 13);
  std::vector<std::int64_t> rows(static_cast<std::size_t>(split.rows));
  for (std::int64_t i = 0; i < split.rows; ++i) rows[i] = i;
  std::shuffle(rows.begin(), rows.end(), rng);
  rows.resize(static_cast<std::size_t>(std::min<std::int64_t>(split.rows, 1000)));
  const auto n = static_cast<Eigen::Index>(rows.size());
  Eigen::MatrixXd z(n, split.dim);
  for (Eigen::Index i = 0; i < n; ++i)
    z.row(i) = Eigen::Map<const Eigen::RowVectorXf>(split.z.data() + rows[i] * split.dim, split.dim).cast<double>();
  const Eigen::VectorXd norms = z.rowwise().squaredNorm();
  const Eigen::MatrixXd d2 = ((-2.0 * z * z.transpose()).colwise() + norms).rowwise() + norms.transpose();
  const double sum = d2.cwiseMax(0.0).cwiseSqrt().sum();
  return n > 1 ? sum / static_cast<double>(n * (n - 1)) : 1.0;
}

}  // namespace

TaskData load_task_uncached(const std::string& store, const std::string& encoder, const std::string& dataset) {
  return load_task(store, encoder, dataset);
}

nlohmann::json relate_triple(Communicator& comm, const TripleRequest& request, const TripleOptions& o,
                             const TaskLoader& load, relatedness::RelateResult* result, HeadMemo* heads) {
  const auto started = std::chrono::steady_clock::now();
  const relatedness::RelateOptions& options = o.relate;

  TaskData reference = load(request.reference_store, request.encoder, request.reference);
  TaskData target = load(request.target_store, request.encoder, request.target);
  if (reference.dim != target.dim)
    throw InputError(fmt::format("{}: /{}/{} has d = {} but /{}/{} has d = {} (tasks of one encoder must agree)",
                                 request.reference_store, request.encoder, request.reference, reference.dim,
                                 request.encoder, request.target, target.dim));
  check_task(reference, request.reference_store, "reference");
  check_task(target, request.target_store, "target");
  TripleSizes sizes;
  sizes.target_train_full = target.train.rows;
  if (o.target_fraction < 1.0) {
    std::mt19937_64 rng(options.seed + 7);
    target.train =
        take_rows(target.train, stratified_fraction(target.train.y, target.num_classes, o.target_fraction, rng));
    check_task(target, request.target_store, "target");
  }
  // The stored head acts on raw embeddings: read it before standardising.
  std::optional<io::StoredHead> stored;
  if (!o.train_head) stored = stored_head_of(request.reference_store, reference);
  if (o.standardize) {
    standardize(reference);
    standardize(target);
  }
  // The head, and with tau0 auto the bound of every candidate budget (fitted
  // in increasing order, each fit starting from the previous one's theta).
  Tau0Report tau0;
  tau0.automatic = o.tau0.automatic && !stored;
  std::vector<double> budgets = {o.tau0.value};
  if (tau0.automatic) {
    tau0.reference_distance = mean_distance(reference.train, options.seed);
    budgets.clear();
    for (double kappa : o.tau0_grid.relative) budgets.push_back(kappa / tau0.reference_distance);
  }
  ChosenHead chosen;
  relatedness::RelateResult r;
  relatedness::Transformation warm;  // the previous candidate's theta
  for (std::size_t c = 0; c < budgets.size(); ++c) {
    relatedness::RelateOptions candidate_options = options;
    candidate_options.head.tau0 = budgets[c];
    ChosenHead head =
        choose_reference_head(stored, reference, o.standardize, candidate_options.head, request.reference_store, heads);
    relatedness::RelateResult candidate =
        relatedness::relate(comm, reference, target, head.head, candidate_options, false, c > 0 ? &warm : nullptr);
    warm = candidate.transformation;
    if (tau0.automatic)
      tau0.candidates.push_back({budgets[c], o.tau0_grid.relative[c], candidate.relatedness, candidate.target_loss,
                                 candidate.fit_converged});
    if (c == 0 || candidate.relatedness < r.relatedness) {
      tau0.chosen = budgets[c];
      tau0.chosen_relative = tau0.automatic ? o.tau0_grid.relative[c] : 0.0;
      r = std::move(candidate);
      chosen = std::move(head);
    }
  }
  const BaselineScores scores = baseline_scores(reference, target, chosen.head, o);
  // relate() evaluated the head on the test split; the training side of the report is the head's own.
  r.head.from_store = chosen.report.from_store;
  r.head.epochs = chosen.report.epochs;
  r.head.converged = chosen.report.converged;
  r.head.loss = chosen.report.loss;
  r.head.train_ce = chosen.report.train_ce;
  r.head.train_accuracy = chosen.report.train_accuracy;
  r.head.seconds = chosen.report.seconds;

  sizes.reference_train = reference.train.rows;
  sizes.reference_reported = reference.test.rows;
  sizes.reference_reported_split = reference.test_split;
  sizes.target_train_used = target.train.rows;
  sizes.target_reported = target.test.rows;
  sizes.target_reported_split = options.pseudo_labels ? std::string("train") : target.test_split;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  nlohmann::json record = triple_record(request, o, r, scores, sizes, tau0, comm.size(), seconds);
  if (result != nullptr) *result = std::move(r);
  return record;
}

}  // namespace taskrel::pipeline
