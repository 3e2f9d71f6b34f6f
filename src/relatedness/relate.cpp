// The relatedness analysis of one triple (relate.h): the start, the fit (with
// pseudo-label rounds) in the chosen mode, and the report. Torch-free: the
// paper-code fit and the head keep LibTorch in their own translation units.
#include "relatedness/relate.h"

#include <algorithm>
#include <random>

#include <spdlog/spdlog.h>

#include "core/error.h"
#include "relatedness/assignment.h"
#include "relatedness/bound_fit.h"
#include "relatedness/label_coupling.h"
#include "relatedness/label_start.h"
#include "relatedness/paper_code_fit.h"
#include "relatedness/report.h"

namespace taskrel::relatedness {

namespace {

std::vector<double> prior_of(const std::vector<std::int64_t>& y, std::int64_t classes) {
  const auto counts = class_counts(y, classes);
  std::vector<double> p(classes);
  for (std::int64_t k = 0; k < classes; ++k) p[k] = static_cast<double>(counts[k]) / static_cast<double>(y.size());
  return p;
}

// The target class h_T predicts for every row of a split (argmax of B h_R(Abar (z - b))).
std::vector<std::int64_t> transferred_predictions(const Transformation& theta, const HeadMatrices& head,
                                                  const Split& split, const std::vector<std::int64_t>& labels,
                                                  std::int64_t kt) {
  const auto prior = prior_of(labels, kt);
  const Eigen::MatrixXd B = label_map(label_coupling(theta, Eigen::Map<const Eigen::VectorXd>(prior.data(), kt)));
  const Eigen::MatrixXd losses =
      losses_in_reference_space(head, B, to_reference_space(theta, as_double(split.z.data(), split.rows, split.dim)));
  std::vector<std::int64_t> predictions(static_cast<std::size_t>(split.rows));
  for (std::int64_t i = 0; i < split.rows; ++i) {
    Eigen::Index best = 0;
    losses.row(i).minCoeff(&best);
    predictions[i] = best;
  }
  return predictions;
}

// Points per side of the fit (relate_options.h, batch_size); 0: all.
std::int64_t fit_points(const RelateOptions& options, std::int64_t reference_rows, std::int64_t target_rows,
                        std::int64_t dim) {
  if (options.batch_size > 0) return options.batch_size;
  return reference_rows * target_rows <= options.full_pairs ? 0 : std::max<std::int64_t>(500, 2 * dim);
}

}  // namespace

RelateResult relate(Communicator& comm, const TaskData& reference, const TaskData& target, const LinearHead& head,
                    const RelateOptions& options, bool keep_transform, const Transformation* warm_start) {
  const std::int64_t kr = reference.num_classes, kt = target.num_classes, d = reference.dim;
  TASKREL_ASSERT(target.dim == d, "dimension mismatch reached relate()");
  TASKREL_ASSERT(head.classes == kr && head.dim == d, "head is {} x {}, reference has {} classes, d = {}",
                 head.classes, head.dim, kr, d);
  if (options.setting == Setting::kLearnedA && kt != kr)
    throw InputError(fmt::format("setting learned-A needs as many target as reference classes ({} vs {})", kt, kr));
  std::mt19937_64 rng(options.seed);

  RelateResult result;
  result.ref_classes = kr;
  result.target_classes = kt;
  result.dim = d;

  // Target labels for fitting: the stored ones, or pseudo-labels from k-means.
  std::vector<std::int64_t> fit_labels = target.train.y;
  if (options.pseudo_labels) {
    if (target.train.rows < kt)
      throw InputError(fmt::format("pseudo-labels: target has {} rows for {} classes", target.train.rows, kt));
    fit_labels = kmeans(target.train.z, target.train.rows, d, static_cast<int>(kt), options.seed);
    result.pseudo_label_agreement_rounds.push_back(
        agreement_up_to_permutation(fit_labels, target.train.y, static_cast<int>(kt)));
  }

  const HeadMatrices h = head_matrices(head);
  result.reference_prior = prior_of(reference.train.y, kr);
  LabelStart start;
  if (options.setting != Setting::kLearnedAll) {
    start = match_labels(reference, target.train, fit_labels, kt);
    result.fixed_permutation = start.permutation;
  }

  const int rounds = options.pseudo_labels ? std::max(1, options.pseudo_rounds) : 1;
  const bool learns = options.setting != Setting::kFixedAll;
  const int epochs = learns ? options.epochs : 0;
  Transformation theta;
  std::unique_ptr<PaperCodeFit> paper_code;
  Split reference_fit = reference.train;
  std::vector<std::int64_t> target_fit_rows;  // empty: all
  if (options.mode == FitMode::kLabelExact) {
    const std::int64_t points = fit_points(options, reference.train.rows, target.train.rows, d);
    result.batch_size = points;
    if (points > 0 && points < reference.train.rows)
      reference_fit = take_rows(reference.train, stratified_sample(reference.train.y, kr, points, rng));
    if (points > 0 && points < target.train.rows) target_fit_rows = stratified_sample(fit_labels, kt, points, rng);
    Eigen::MatrixXd logits;
    if (options.setting == Setting::kLearnedAll) {
      // The start: q(j | k) = P_R(j) for every target class (B = P_T in every
      // column, D = P_R), with small seeded noise that breaks the symmetry.
      const auto prior = prior_of(reference_fit.y, kr);
      std::normal_distribution<double> noise(0.0, 0.01);
      logits.resize(kt, kr);
      for (std::int64_t k = 0; k < kt; ++k)
        for (std::int64_t j = 0; j < kr; ++j) logits(k, j) = std::log(std::max(prior[j], 1e-12)) + noise(rng);
    } else {
      logits = fixed_coupling_logits(start);
    }
    theta = identity_transformation(d, logits);
    const bool warm_fits = warm_start != nullptr && warm_start->constrained() &&
                           warm_start->A.rows() == d && warm_start->coupling_logits.rows() == kt &&
                           warm_start->coupling_logits.cols() == kr && options.setting == Setting::kLearnedAll;
    if (warm_fits) theta = *warm_start;
  } else {
    paper_code = std::make_unique<PaperCodeFit>(d, kt, result.reference_prior, options.setting, start, options);
  }
  const Eigen::VectorXd fit_losses =
      head_class_losses(h, reference_fit.z.data(), reference_fit.y, reference_fit.rows, d, kr);
  const std::vector<double> fit_losses_vector(fit_losses.data(), fit_losses.data() + kr);

  for (int round = 0; round < rounds; ++round) {
    const int round_epochs = epochs / rounds + (round < epochs % rounds ? 1 : 0);
    Split target_fit = target.train;
    target_fit.y = fit_labels;
    if (!target_fit_rows.empty()) target_fit = take_rows(target_fit, target_fit_rows);
    if (paper_code) {
      paper_code->run(comm, reference.train, kr, target_fit, fit_losses_vector, round_epochs, epochs, rng, result);
      theta = paper_code->transformation();
    } else {
      BoundFitInputs inputs{reference_fit, kr, target_fit, kt, fit_losses, h};
      inputs.learn_map = learns;
      inputs.learn_labels = options.setting == Setting::kLearnedAll;
      inputs.max_epochs = round_epochs;
      fit_bound(comm, inputs, options, theta, result);
    }
    if (options.pseudo_labels) {
      // y_T = argmax_k (B h_R(Abar (z_T - b)))_k. A relabelling that empties a
      // class is a collapse (an under-confident head lets B's row sums decide):
      // it is rejected and the current labels are kept.
      auto relabelled = transferred_predictions(theta, h, target.train, fit_labels, kt);
      const auto counts = class_counts(relabelled, kt);
      if (std::find(counts.begin(), counts.end(), 0) != counts.end()) {
        spdlog::warn("pseudo-labels round {}: relabelling leaves a class empty; keeping the previous labels",
                     round + 1);
        ++result.pseudo_label_rejected_rounds;
      } else {
        fit_labels = std::move(relabelled);
      }
      result.pseudo_label_agreement_rounds.push_back(
          agreement_up_to_permutation(fit_labels, target.train.y, static_cast<int>(kt)));
      spdlog::info("pseudo-labels round {}/{}: agreement with the stored labels {:.4f} (up to permutation)", round + 1,
                   rounds, result.pseudo_label_agreement_rounds.back());
    }
  }
  if (!learns) result.fit_converged = true;

  // ---- report on the test splits (pseudo-labels: the labelled target train split)
  Split target_eval = options.pseudo_labels ? target.train : target.test;
  if (options.pseudo_labels) {
    target_eval.y = fit_labels;
    result.pseudo_label_agreement = agreement_up_to_permutation(fit_labels, target.train.y, static_cast<int>(kt));
  }
  report(comm, theta, reference, target_eval, kt, head, options, keep_transform, result);
  HeadReport test_report;
  evaluate_head(head, reference.test.z, reference.test.y, reference.test.rows, test_report);
  result.head = test_report;
  result.transformation = theta;
  return result;
}

}  // namespace taskrel::relatedness
