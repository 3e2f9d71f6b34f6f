// The paper-code fit (DESIGN.md 1.5's `reference` mode, reproduced so the
// two can be compared): the objective of Mehra, Zhang & Hamm's code,
//
//   RW + H + lambda_W W + lambda_PM ||P_T - B D||^2 + lambda_IC (||A Abar - I||^2 + ||Abar A - I||^2)
//
// over (A, b, Abar, B = column softmax, D = softmax) with Adam (lr for A, b,
// Abar, B; lr_d for D), W one exact OT per step between stratified
// minibatches of the transformed reference (masses D_{y_i} / n_{y_i}) and
// the target (uniform) with cost c + lambda ||B e_{y_i} - e_{y'_j}||,
// lambda = 1e6; gradients through the cost at the fixed plan (A, b, B) and
// the source duals (D). Replicated on every rank (not sharded). The torch
// model lives in paper_code_fit.cpp; this interface is torch-free.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "comm/communicator.h"
#include "relatedness/label_start.h"
#include "relatedness/relate.h"
#include "relatedness/transferred_classifier.h"

namespace taskrel::relatedness {

class PaperCodeFit {
 public:
  // Setting learned-A / fixed-all: B fixed at fixed_label_map(start), D = P_R.
  PaperCodeFit(std::int64_t dim, std::int64_t target_classes, const std::vector<double>& reference_prior,
               Setting setting, const LabelStart& start, const RelateOptions& options);
  ~PaperCodeFit();
  PaperCodeFit(const PaperCodeFit&) = delete;
  PaperCodeFit& operator=(const PaperCodeFit&) = delete;

  // Up to `epochs` steps on minibatches of batch_size per side (drawn from
  // `rng`); stops early when the mean objective of the last 10 steps differs
  // from that of the 10 before by less than options.tolerance (relative).
  // `class_losses`: the head's per-class loss on reference.train.
  void run(Communicator& comm, const Split& reference_train, std::int64_t reference_classes, const Split& target_fit,
           const std::vector<double>& class_losses, int epochs, int total_epochs, std::mt19937_64& rng,
           RelateResult& result);

  bool learns() const;
  // The learned (A, b, Abar, B, D); B D need not be P_T.
  Transformation transformation() const;

  struct Model;  // the LibTorch model, defined in paper_code_fit.cpp

 private:
  std::unique_ptr<Model> model_;
  RelateOptions options_;
};

}  // namespace taskrel::relatedness
