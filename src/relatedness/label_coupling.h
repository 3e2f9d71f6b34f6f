// The label part of the transformation, kept on the theorem's constraint.
//
// B_kj = P(target label k | reference label j) and the re-weighted
// reference prior D enter the bound through the coupling pi_kj = B_kj D_j of
// reference and target labels. The theorem needs the transformed reference
// measure to put mass P_T(k) on target class k, i.e. B D = P_T: otherwise
// mass on the wrong classes costs infinity in W_d. So the label part is
// parametrised by target-conditional logits Lambda (K_T x K_R):
//
//   pi_kj = P_T(k) softmax_j(Lambda_k.),  D_j = sum_k pi_kj,  B_kj = pi_kj / D_j,
//
// which gives B D = P_T exactly for every Lambda and covers every coupling
// with that row marginal (every (B, D) the constraint allows). The same
// logits give the coupling for any target prior (the fit's train prior, the
// report's test prior).
#pragma once

#include <Eigen/Dense>

namespace taskrel::relatedness {

// pi (K_T x K_R) for `logits` and the target prior (K_T).
Eigen::MatrixXd coupling_of(const Eigen::MatrixXd& logits, const Eigen::VectorXd& target_prior);

// D = column sums of pi; B = pi with every column divided by its sum.
Eigen::VectorXd reweighted_prior(const Eigen::MatrixXd& coupling);
Eigen::MatrixXd label_map(const Eigen::MatrixXd& coupling);

// H = -sum_j D_j sum_k B_kj log B_kj = H(target label | reference label) under pi.
double label_mismatch(const Eigen::MatrixXd& coupling);

// The gradient of RW + H + tau * W with respect to pi, W linearised through
// its dual potentials: G_kj = l_j + tau * F_kj - log B_kj, where l holds the
// reference class losses and F_kj = dW / dpi_kj (the mean potential of the
// reference points of class j in the problem of target class k).
Eigen::MatrixXd coupling_gradient(const Eigen::MatrixXd& coupling, const Eigen::VectorXd& class_losses, double tau,
                                  const Eigen::MatrixXd& dual_means);

}  // namespace taskrel::relatedness
