// Internal to src/relatedness: the transformation model theta = (A, b, Abar,
// B, D) as LibTorch tensors and the pieces of the fit and the report that
// work on it (transformation.cpp, fit.cpp, report.cpp, relate.cpp). The
// public headers (relate.h, head.h) stay torch-free; only these translation
// units pay for <torch/torch.h>.
#pragma once

#include <chrono>
#include <memory>
#include <random>
#include <vector>

#include <torch/torch.h>

#include "comm/communicator.h"
#include "relatedness/relate.h"

namespace taskrel::relatedness::detail {

using Seconds = std::chrono::duration<double>;
using Clock = std::chrono::steady_clock;

// Copies between the tasks' row-major vectors and tensors.
torch::Tensor rows_tensor(const std::vector<float>& values, std::int64_t rows, std::int64_t cols);
torch::Tensor labels_tensor(const std::vector<std::int64_t>& y);
std::vector<double> to_doubles(const torch::Tensor& t);
std::vector<float> to_floats(const torch::Tensor& t);
torch::Tensor from_doubles(const std::vector<double>& v, std::int64_t rows, std::int64_t cols);

// Class shares of labels y.
std::vector<double> prior_of(const std::vector<std::int64_t>& y, std::int64_t classes);

// Stratified batch of a split's rows (all rows when size covers it).
Split batch_of(const Split& split, std::int64_t classes, std::int64_t size, std::mt19937_64& rng);

// Target class of each reference class, from the co-occurrence of the target
// points' nearest reference class mean with their labels (maximum matching).
// Also returns the column-normalised co-occurrence (K_T x K_R).
std::vector<std::int64_t> cooccurrence_matching(const TaskData& reference, const Split& target_train,
                                                const std::vector<std::int64_t>& target_labels, std::int64_t kt,
                                                std::vector<double>& cooccurrence);

// The transformation model and its optimiser state.
struct Model {
  torch::Tensor A, b, Abar, B_logits, D_logits;  // parameters (A etc. may be fixed)
  torch::Tensor B_fixed, D_fixed;                // used instead of the softmaxes when defined
  std::vector<torch::Tensor> learned;            // every tensor with requires_grad
  std::unique_ptr<torch::optim::Adam> optimizer;

  torch::Tensor B() const { return B_fixed.defined() ? B_fixed : torch::softmax(B_logits, 0); }
  torch::Tensor D() const { return D_fixed.defined() ? D_fixed : torch::softmax(D_logits, 0); }
};

Model make_model(std::int64_t d, std::int64_t kt, std::int64_t kr, const std::vector<double>& reference_prior,
                 Setting setting, const std::vector<std::int64_t>& perm, const std::vector<double>& cooccurrence,
                 const RelateOptions& options);

// Gradients of the rank-local surrogate are summed over the ranks so every
// rank takes the same step.
void all_reduce_gradients(Communicator& comm, const Model& m);

// The replicated part of the objective: RW, H, prior mismatch and invertibility.
struct Terms {
  torch::Tensor rw, h, pm, ic;
};
Terms replicated_terms(const Model& m, const torch::Tensor& class_losses, const torch::Tensor& target_prior);

ot::SinkhornOptions sinkhorn_options(const RelateOptions& options, double tolerance);

// Class weights w_ik = D_{y_i} / n_{R,y_i} * B_{k,y_i} for rows with labels y (n_class: global counts).
torch::Tensor class_weights(const Model& m, const torch::Tensor& y, const torch::Tensor& n_class);

// The transferred classifier h_T(z) = B softmax(W Abar (z - b) + c) on a
// split: mean loss -log h_T(z)_y, accuracy, the largest input-gradient norm
// of that loss (tau) and the predictions.
struct Transferred {
  double loss = 0, accuracy = 0, tau = 0;
  std::vector<std::int64_t> predictions;
};
Transferred transferred_classifier(const Model& m, const LinearHead& head, const Split& split,
                                   const std::vector<std::int64_t>& labels);

// ---- fit.cpp
struct StepOt {
  double w = 0;          // the W_d value (transport cost) of this step
  double objective = 0;  // what the gradient differentiates
  double mismatch = 0;
  bool converged = true;
  int iterations = 0;
  double epsilon = 0;
  double reference_w = 0;
};

// Label-exact W_d on this rank's rows z_local (labels y_local) against the
// target batch; with `backward`, backpropagates lambda_w times its surrogate.
StepOt label_exact_step(Communicator& comm, const Model& m, const torch::Tensor& z_local, const torch::Tensor& y_local,
                        const torch::Tensor& n_class, const Split& target, std::int64_t kt,
                        const ot::SinkhornOptions& solver, std::vector<ot::Potentials>* warm, double lambda_w,
                        bool backward);

// What a fit round needs besides the model: the tasks, the labels it fits
// the target on, the head's class losses on the reference train split.
struct FitInputs {
  const TaskData& reference;
  const TaskData& target;
  const std::vector<std::int64_t>& target_labels;
  const torch::Tensor& class_losses;
  std::int64_t batch = 0;  // points per side per step (0: full data, warm-started)
  int epochs = 0;          // steps of this round
  int total_epochs = 0;    // steps of the whole fit (for the log)
};

// `inputs.epochs` Adam steps on the objective; accumulates the fit's
// diagnostics (objective, OT iterations, timings) into `result` and counts
// the steps in `epoch_count`.
void fit_round(Communicator& comm, Model& model, const FitInputs& inputs, const RelateOptions& options,
               std::mt19937_64& rng, int& epoch_count, RelateResult& result);

// ---- report.cpp
// The bound and every diagnostic on the reported splits: the reference test
// split and `target_eval` (the target test split, or with pseudo-labels the
// target train split with its final labels).
void report(Communicator& comm, const Model& model, const TaskData& reference, const Split& target_eval,
            std::int64_t kt, const LinearHead& head, const RelateOptions& options, bool keep_transform,
            RelateResult& result);

}  // namespace taskrel::relatedness::detail
