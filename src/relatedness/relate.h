// Task relatedness of one (encoder, reference, target) triple: the analysis
// of DESIGN.md section 1 (Mehra, Zhang & Hamm, NeurIPS 2024).
//
//   relatedness = RW + H + tau * W_d
//
// fitted by minimising RW + H + lambda_W W + lambda_PM ||P_T - B D||^2 +
// lambda_IC (||A Abar - I||^2 + ||Abar A - I||^2) over (A, b, Abar, B, D)
// with Adam, then reported on the test splits. This header is torch-free;
// the LibTorch parts live in head.cpp and relate.cpp.
//
// What is computed, exactly:
//  - l_j: mean cross-entropy of h_R on reference class j (train split for the
//    fit, where RW depends on D only; test split for the report).
//  - Fit, label-exact mode: per step the reference points (this rank's rows
//    of the full train split, or of a stratified minibatch shared by all
//    ranks) are mapped to x_i = A z_i + b, w_ik = D_{y_i} / n_{R,y_i} B_{k,y_i},
//    and label_exact_wd (wd_gradient.h) solves the K_T entropic problems
//    (warm-started with the previous step's potentials on full data). The
//    surrogate sum_i <dW/dx_i, x_i> + sum_ik dW/dw_ik w_ik carries the OT
//    gradient to A, b (plan fixed) and B, D (duals); its gradients are summed
//    over the ranks, the replicated terms are added, and every rank takes the
//    same Adam step (lr for A, b, Abar, B logits; lr_d for the D logits).
//  - Fit, paper-code mode (the paper's code): one exact EMD per step between
//    a stratified minibatch of transformed reference points (masses
//    D_{y_i} / n_{R,y_i}) and target points (uniform) with cost
//    c(x_i, z'_j) + lambda ||B e_{y_i} - e_{y'_j}||_2, lambda = 1e6;
//    gradient through the cost at the fixed plan (A, b, B) and through the
//    source duals (D). Computed identically on every rank (not sharded).
//  - Report (both modes alike): RW = sum_j D_j l_j(test);
//    H = -sum_j D_j sum_k B_kj log B_kj; W_d = sum_k P_T(k) <P^k, C^k> (the
//    transport cost of the entropic plans, without the entropy term) between
//    stratified subsets of at most eval_points reference test and target test
//    points, sharded over the ranks; prior mismatch ||P_T - B D||_1 on them.
//  - tau = max over all target evaluation points z (the whole target test
//    split; with pseudo-labels the target train split and its final
//    pseudo-labels y) of || grad_z [ -log (B softmax(W Abar (z - b) + c))_y ] ||_2,
//    the input-gradient norm of the loss of h_T(z) = B h_R(Abar (z - b)) at
//    the point's label. target_loss / target_accuracy: the mean of that loss
//    and the accuracy of argmax_k h_T(z)_k over the same points.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "relatedness/relate_options.h"
#include "relatedness/task_data.h"

namespace taskrel::relatedness {

struct RelateResult {
  // The bound and its terms on the reported splits.
  double relatedness = 0, reweighted_loss = 0, label_mismatch = 0, distribution_mismatch = 0, tau = 0;
  double target_loss = 0, target_accuracy = 0;
  double prior_mismatch = 0;        // ||P_T - B D||_1
  double invertibility_residual = 0;  // ||A Abar - I||_F
  double transform_shift = 0;       // ||A - I||_F
  double objective = 0;             // training objective at the last step (W as transport cost)
  int fit_ot_unconverged_steps = 0; // steps whose Sinkhorn stopped at fit_max_iterations
  long long fit_ot_iterations = 0;  // Sinkhorn iterations of the fit, all classes and steps
  bool ot_converged = true;
  int ot_iterations = 0;
  double ot_epsilon = 0;
  std::int64_t eval_reference_points = 0, eval_target_points = 0;
  std::int64_t ref_classes = 0, target_classes = 0, dim = 0;
  std::vector<double> B;            // K_T x K_R, row-major
  std::vector<double> D;            // K_R
  std::vector<double> target_prior, reference_prior, class_losses;
  std::vector<double> A, b;         // d x d and d (only filled when requested)
  HeadReport head;
  int epochs = 0;
  std::int64_t batch_size = 0;      // points per side per step (0: full data)
  double reference_w_last = 0;      // paper-code mode: feature part of the last minibatch W
  // Pseudo-labels.
  double pseudo_label_agreement = -1;  // with the true labels, up to permutation (-1: not run)
  std::vector<double> pseudo_label_agreement_rounds;  // k-means start, then after each round
  int pseudo_label_rejected_rounds = 0;  // relabellings rejected because they emptied a class
  // Timings.
  double seconds_head = 0, seconds_fit = 0, seconds_eval = 0, seconds_ot = 0;
  std::vector<std::int64_t> fixed_permutation;  // learned-A / fixed-all: target class of each reference class
};

// Sets LibTorch's intra-op threads: `threads` when > 0, else OMP_NUM_THREADS
// when set, else hardware cores / ranks (at least 1).
void configure_threads(int threads, int ranks);

// Runs the analysis on already loaded (and, if wanted, standardised) tasks.
// `head` is the reference head to use (trained or stored). Collective over
// `comm`: every rank passes the same data and options and gets the same result.
RelateResult relate(Communicator& comm, const TaskData& reference, const TaskData& target, const LinearHead& head,
                    const RelateOptions& options, bool keep_transform = false);

}  // namespace taskrel::relatedness
