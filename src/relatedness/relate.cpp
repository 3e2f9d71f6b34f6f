// The relatedness analysis of one triple (relate.h): the initial model, the
// fit (with pseudo-label rounds) and the report. LibTorch, through
// transformation.h.
#include "relatedness/relate.h"

#include <algorithm>
#include <cstdlib>
#include <random>
#include <thread>

#include <spdlog/spdlog.h>

#include "core/error.h"
#include "relatedness/assignment.h"
#include "relatedness/transformation.h"

namespace taskrel::relatedness {

void configure_threads(int threads, int ranks) {
  if (threads <= 0) {
    if (const char* env = std::getenv("OMP_NUM_THREADS"); env != nullptr && std::atoi(env) > 0) {
      threads = std::atoi(env);
    } else {
      const int cores = static_cast<int>(std::thread::hardware_concurrency());
      threads = std::max(1, cores / std::max(1, ranks));
    }
  }
  torch::set_num_threads(threads);
}

using namespace detail;

RelateResult relate(Communicator& comm, const TaskData& reference, const TaskData& target, const LinearHead& head,
                    const RelateOptions& options, bool keep_transform) {
  const std::int64_t kr = reference.num_classes, kt = target.num_classes, d = reference.dim;
  TASKREL_ASSERT(target.dim == d, "dimension mismatch reached relate()");
  TASKREL_ASSERT(head.classes == kr && head.dim == d, "head is {} x {}, reference has {} classes, d = {}",
                 head.classes, head.dim, kr, d);
  if (options.setting == Setting::kLearnedA && kt != kr)
    throw InputError(fmt::format("setting learned-A needs as many target as reference classes ({} vs {})", kt, kr));
  torch::manual_seed(options.seed);
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

  HeadReport train_report;
  const auto train_losses = evaluate_head(head, reference.train.z, reference.train.y, reference.train.rows, train_report);
  const auto class_losses_fit = torch::tensor(train_losses, torch::kFloat64).to(torch::kFloat32);
  result.reference_prior = prior_of(reference.train.y, kr);

  std::vector<double> cooccurrence;
  std::vector<std::int64_t> perm;
  if (options.setting != Setting::kLearnedAll) {
    perm = cooccurrence_matching(reference, target.train, fit_labels, kt, cooccurrence);
    result.fixed_permutation = perm;
  }
  Model model = make_model(d, kt, kr, result.reference_prior, options.setting, perm, cooccurrence, options);

  // Full data (warm-started) or stratified minibatches.
  std::int64_t batch = options.batch_size;
  if (batch <= 0)
    batch = (reference.train.rows * target.train.rows <= options.full_pairs) ? 0 : 500;
  if (options.mode == FitMode::kPaperCode) batch = options.batch_size > 0 ? options.batch_size : options.paper_code_batch;
  result.batch_size = batch;
  const auto solver = sinkhorn_options(options, options.fit_tolerance);
  const auto fit_started = Clock::now();
  const int rounds = options.pseudo_labels ? std::max(1, options.pseudo_rounds) : 1;
  const int epochs = model.learned.empty() ? 0 : options.epochs;
  int epoch_count = 0;
  for (int round = 0; round < rounds; ++round) {
    const int round_epochs = epochs / rounds + (round < epochs % rounds ? 1 : 0);
    FitInputs inputs{reference, target, fit_labels, class_losses_fit, batch, round_epochs, epochs};
    fit_round(comm, model, inputs, options, rng, epoch_count, result);
    if (options.pseudo_labels) {
      // y_T = argmax_k (B h_R(Abar (z_T - b)))_k. A relabelling that empties a
      // class is a collapse (an under-confident head lets B's row sums decide):
      // it is rejected and the current labels are kept.
      auto relabelled = transferred_classifier(model, head, target.train, fit_labels).predictions;
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
  result.epochs = epoch_count;
  result.seconds_fit = Seconds(Clock::now() - fit_started).count();

  // ---- report on the test splits (pseudo-labels: the labelled target train split)
  Split target_eval = options.pseudo_labels ? target.train : target.test;
  if (options.pseudo_labels) {
    target_eval.y = fit_labels;
    result.pseudo_label_agreement = agreement_up_to_permutation(fit_labels, target.train.y, static_cast<int>(kt));
  }
  report(comm, model, reference, target_eval, kt, head, options, keep_transform, result);
  return result;
}

}  // namespace taskrel::relatedness
