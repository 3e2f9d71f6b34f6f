#include "pipeline/reference_head.h"

#include <tuple>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/error.h"

namespace taskrel::pipeline {

namespace {

// The stored head acts on raw embeddings; with standardised inputs
// h(z_raw) = W z_raw + c and z_raw = s * z_std + mu give W' = W diag(s), c' = c + W mu.
relatedness::LinearHead head_for_standardised(const io::StoredHead& stored, const relatedness::TaskData& reference,
                                              bool standardized) {
  relatedness::LinearHead head;
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

}  // namespace

std::optional<io::StoredHead> stored_head_of(const std::string& store, const relatedness::TaskData& reference) {
  std::optional<io::StoredHead> stored = io::read_stored_head(store, reference.encoder, reference.dataset);
  if (stored && (stored->classes != reference.num_classes || stored->dim != reference.dim))
    throw InputError(fmt::format("{}: /{}/{}/head is {} x {}, expected {} x {} (classes x d)", store, reference.encoder,
                                 reference.dataset, stored->classes, stored->dim, reference.num_classes, reference.dim));
  return stored;
}

ChosenHead choose_reference_head(const std::optional<io::StoredHead>& stored, const relatedness::TaskData& reference,
                                 bool standardized, const relatedness::HeadOptions& options, const std::string& store,
                                 HeadMemo* memo) {
  ChosenHead chosen;
  // One triple on the command line says which head it used; a zoo run keeps that to -v.
  const auto log_level = memo == nullptr ? spdlog::level::info : spdlog::level::debug;
  if (stored) {
    chosen.head = head_for_standardised(*stored, reference, standardized);
    chosen.report.from_store = true;
    spdlog::log(log_level, "reference head: stored at /{}/{}/head", reference.encoder, reference.dataset);
    return chosen;
  }
  // Heads of different budgets are different heads (tau0 auto trains several).
  const std::string memo_key = fmt::format("{}\n{}\n{}\n{:.17g}\n{:.17g}\n{}", store, reference.encoder,
                                           reference.dataset, options.tau0, options.gamma, options.max_epochs);
  if (memo != nullptr && memo->heads.count(memo_key) != 0) {
    std::tie(chosen.head, chosen.report) = memo->heads.at(memo_key);
  } else {
    chosen.head = relatedness::train_head(reference.train.z, reference.train.y, reference.train.rows, reference.dim,
                                          reference.num_classes, options, chosen.report);
    if (memo != nullptr) memo->heads[memo_key] = {chosen.head, chosen.report};
  }
  spdlog::log(log_level, "reference head: {} epochs{}, train accuracy {:.4f}, CE {:.4f}", chosen.report.epochs,
              chosen.report.converged ? "" : " (not converged)", chosen.report.train_accuracy, chosen.report.train_ce);
  return chosen;
}

}  // namespace taskrel::pipeline
