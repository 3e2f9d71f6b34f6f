// The label-exact fit: the transformation that minimises the bound itself.
//
// Objective, over theta = (A, b, coupling logits) with Abar = A^{-1} exactly
// and B D = P_T by construction (label_coupling.h):
//
//   L = RW + H + tau_global(A) * W(A, b, pi)
//
// where W = sum_k P_T(k) <P^k, C^k> is the transport cost of the entropic
// label-exact plans between the transformed reference and the target
// (class k: reference point i with mass pi_{k,y_i} / n_{y_i} against the
// target points of class k; what the report calls W_d) and
// tau_global = max_{j,j'} ||A^{-T} (w_j - w_j')|| is a Lipschitz constant of
// the transferred classifier's loss (transferred_classifier.h). This is an
// upper bound of the reported relatedness (which uses the support Lipschitz
// constant <= tau_global), so minimising it tightens the reported bound. The paper's fixed
// weight lambda_W in place of tau lets the fit shrink A without seeing what
// the inverse does to the transferred classifier; with Abar = A^{-1} that
// ends in an ill-conditioned A and a useless bound (measured: condition
// number 4.8e3, tau 7.6 on the bundled zoo), which is why it is not used here.
//
// Algorithm, one epoch (block-coordinate majorise-minimise, every block
// decreasing L):
//  1. plans: the label-aware Sinkhorn at the current theta, warm-started;
//  2. (A, b): with the plans held fixed, <P, C(A, b)> bounds the optimal
//     cost; its iteratively-reweighted least-squares majoriser (for the
//     euclidean cost, sum_ij P_ij / c_ij ||A z_i + b - z'_j||^2 / 2 + const)
//     times tau(A) is minimised by a few Adam steps (moments kept across
//     epochs), and the step is kept only if the true tau * <P, C> decreased;
//  3. labels: a few mirror-descent steps on the coupling logits of
//     RW + H + tau * W linearised through the dual potentials (W is convex in
//     the masses, so the step size adapts: halved when L rose).
// Stopping rule: L changed by less than `tolerance` (relative) over the last
// 10 epochs with the last Sinkhorn converged, or the epoch cap.
// Collective over `comm`: the reference rows are sharded, the sums behind
// every step all-reduced, so every rank takes the same steps.
#pragma once

#include <cstdint>

#include <Eigen/Dense>

#include "comm/communicator.h"
#include "relatedness/relate.h"
#include "relatedness/transferred_classifier.h"

namespace taskrel::relatedness {

struct BoundFitInputs {
  const Split& reference;               // the reference points of the fit (all ranks hold them whole)
  std::int64_t reference_classes = 0;
  const Split& target;                  // the target points of the fit, with the labels to fit on
  std::int64_t target_classes = 0;
  const Eigen::VectorXd& class_losses;  // l_j of the head on `reference`
  const HeadMatrices& head;
  bool learn_map = true;                // A, b
  bool learn_labels = true;             // the coupling logits
  int max_epochs = 0;
};

// Runs the fit from `theta` (updated in place, Abar = A^{-1} on return) and
// adds its diagnostics to `result` (epochs, objective, fit_converged, OT
// iterations and timings).
void fit_bound(Communicator& comm, const BoundFitInputs& inputs, const RelateOptions& options, Transformation& theta,
               RelateResult& result);

}  // namespace taskrel::relatedness
