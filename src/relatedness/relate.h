// Task relatedness of one (encoder, reference, target) triple: the analysis
// of DESIGN.md section 1 (Mehra, Zhang & Hamm, NeurIPS 2024).
//
//   relatedness = RW + H + tau * W_d  >=  target_loss (the theorem)
//
// What is computed, exactly:
//  - l_j: mean cross-entropy of h_R on reference class j (on the fit's
//    reference points for the fit, on the reported ones for the report).
//  - label-exact mode (default; bound_fit.h): theta = (A, b, coupling
//    logits) with Abar = A^{-1} exactly and B D = P_T by construction
//    (label_coupling.h); the fit minimises the bound itself,
//    RW + H + tau_global(A) W, by block majorise-minimise (Sinkhorn plans,
//    an (A, b) step on the plans' majoriser, mirror descent on the logits)
//    until the objective changes by less than `tolerance` over 10 epochs
//    (epochs: a cap), on a fixed stratified subset of the train splits
//    (batch_size points per side; all points up to full_pairs pairs).
//  - paper-code mode (paper_code_fit.h): the paper's objective and Adam on
//    minibatch exact EMDs with a 1e6-weighted label cost, learned Abar and
//    the soft ||P_T - B D||^2 penalty; stops on the mean objective of two
//    windows of 10 steps. Its B D need not be P_T, so its bound may fail.
//  - Report (report.h, both modes): on stratified subsets of at most
//    eval_points reference test and target test points (with pseudo-labels
//    the target train split and its final labels): RW = sum_j D_j l_j,
//    H = -sum_j D_j sum_k B_kj log B_kj, W_d = sum_k P_T(k) <P^k, C^k> (the
//    entropic plans' transport cost, >= the exact W), B and D at the
//    reported target prior; target_loss and target_accuracy of
//    h_T(z) = B h_R(Abar (z - b)) on the same target points; tau = the
//    Lipschitz constant of h_T's loss between the two measures' supports
//    (max |f_k(z') - f_k(x)| / c(x, z') over every pair of a class problem),
//    which makes the Kantorovich-Rubinstein step exact for these finite
//    measures, so bound_holds is true by construction in label-exact mode
//    (up to Sinkhorn's marginal tolerance); tau_global and tau_points (the
//    paper's max gradient norm) beside it; gap = relatedness - target_loss;
//    transformed_bound = h_T's loss on the transformed reference + tau W_d,
//    the proof's tighter middle step.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "relatedness/relate_options.h"
#include "relatedness/task_data.h"
#include "relatedness/transferred_classifier.h"

namespace taskrel::relatedness {

struct RelateResult {
  // The bound and its terms on the reported splits.
  double relatedness = 0, reweighted_loss = 0, label_mismatch = 0, distribution_mismatch = 0, tau = 0;
  double target_loss = 0, target_accuracy = 0;
  double prior_mismatch = 0;        // ||P_T - B D||_1
  double invertibility_residual = 0;  // ||A Abar - I||_F
  double transform_shift = 0;       // ||A - I||_F
  double objective = 0;             // the fit's objective at its last epoch
  bool fit_converged = false;       // the stopping rule was met before the epoch cap
  // The bound's consistency on the reported points: relatedness >= target_loss
  // holds by construction in label-exact mode (B D = P_T, Abar = A^{-1},
  // tau the support Lipschitz constant); paper-code mode is checked as it comes.
  double gap = 0;                   // relatedness - target_loss
  bool bound_holds = false;
  double transformed_reference_loss = 0;  // h_T's loss on the transformed reference measure (<= RW + H)
  double transformed_bound = 0;     // transformed_reference_loss + tau * W_d: the proof's tighter middle step
  double tau_global = 0;            // max_{j,j'} ||Abar^T (w_j - w_j')||: Lipschitz on the whole space
  double tau_points = 0;            // largest ||grad f_y|| at the target points (the paper's code)
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
  Transformation transformation;    // the fitted theta (a warm start for a related fit)
};

// Sets LibTorch's intra-op threads: `threads` when > 0, else OMP_NUM_THREADS
// when set, else hardware cores / ranks (at least 1).
void configure_threads(int threads, int ranks);

// Runs the analysis on already loaded (and, if wanted, standardised) tasks.
// `head` is the reference head to use (trained or stored). Collective over
// `comm`: every rank passes the same data and options and gets the same result.
// `warm_start` (label-exact, learned-all): start the fit from this theta, e.g.
// the fit of the same triple under another head.
RelateResult relate(Communicator& comm, const TaskData& reference, const TaskData& target, const LinearHead& head,
                    const RelateOptions& options, bool keep_transform = false,
                    const Transformation* warm_start = nullptr);

}  // namespace taskrel::relatedness
