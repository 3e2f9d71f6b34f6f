// The transformation theta = (A, b, Abar, B, D) and the transferred
// classifier it defines, in plain Eigen (no LibTorch):
//
//   h_T(z') = B softmax(W Abar (z' - b) + c)      (W, c: the reference head)
//
// and its loss f_k(z') = -log h_T(z')_k at label k. The bound of Mehra,
// Zhang & Hamm needs f to be Lipschitz in z' (the tau of tau * W_d); three
// readings of tau are computed here (see relate.h for which one is reported):
//  - support Lipschitz (report.cpp): the largest |f_k(z') - f_k(x)| / c(x, z')
//    over every pair of a transformed reference point x and a target point z'
//    of class k -- exactly what the Kantorovich-Rubinstein step of the proof
//    needs for the two finite measures, so the bound holds for them;
//  - global (tau_global): max_{j,j'} ||Abar^T (w_j - w_j')||, a Lipschitz
//    constant of every f_k on the whole space (the softmax gradient p - r has
//    entries summing to zero and l1 norm <= 2, so W^T (p - r) lies in the hull
//    of the pairwise row differences); it is differentiable in A, so the fit
//    minimises it;
//  - at points (tau_points): the largest input-gradient norm of f_y over the
//    target points -- the paper's code, a lower bound of the Lipschitz
//    constant, reported for comparison only.
#pragma once

#include <cstdint>
#include <vector>

#include <Eigen/Dense>

#include "relatedness/head.h"

namespace taskrel::relatedness {

using RowMatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

struct Transformation {
  Eigen::MatrixXd A;     // d x d: reference -> target space, x = A z + b
  Eigen::VectorXd b;     // d
  Eigen::MatrixXd Abar;  // d x d: target -> reference space (exactly A^{-1} in label-exact mode)
  // The label part: coupling logits (label-exact: B D = P_T for every target
  // prior, label_coupling.h), or, when they are empty, a learned B and D
  // (paper-code mode, which keeps ||P_T - B D||^2 as a penalty).
  Eigen::MatrixXd coupling_logits;  // K_T x K_R
  Eigen::MatrixXd B;                // K_T x K_R, paper-code only
  Eigen::VectorXd D;                // K_R, paper-code only
  bool constrained() const { return coupling_logits.size() > 0; }
};

// The identity map with the logits of the given coupling start.
Transformation identity_transformation(std::int64_t dim, const Eigen::MatrixXd& coupling_logits);

// The label coupling pi (K_T x K_R) the transformation puts on a target
// prior: P_T(k) softmax(logits_k) when constrained, else B diag(D) (whose
// row sums need not be P_T).
Eigen::MatrixXd label_coupling(const Transformation& t, const Eigen::VectorXd& target_prior);

// The reference head as Eigen arrays.
struct HeadMatrices {
  Eigen::MatrixXd W;  // K_R x d
  Eigen::VectorXd c;  // K_R
};
HeadMatrices head_matrices(const LinearHead& head);

// -log (B softmax(W u + c))_k for every row u of `inputs` (reference-space
// points, rows x d) and every target class k: rows x K_T.
Eigen::MatrixXd losses_in_reference_space(const HeadMatrices& head, const Eigen::MatrixXd& B,
                                          const Eigen::MatrixXd& inputs);

// Target points (rows x d, target space) mapped into the reference space: Abar (z' - b).
Eigen::MatrixXd to_reference_space(const Transformation& t, const Eigen::MatrixXd& target_points);

// Reference points (rows x d) mapped into the target space: A z + b.
Eigen::MatrixXd to_target_space(const Transformation& t, const Eigen::MatrixXd& reference_points);

// max_{j,j'} ||Abar^T (w_j - w_j')||, and the pair attaining it.
struct GlobalLipschitz {
  double tau = 0;
  Eigen::Index first = 0, second = 0;
};
GlobalLipschitz global_lipschitz(const HeadMatrices& head, const Eigen::MatrixXd& Abar);

// The largest ||grad_z' f_y(z')|| over the target points (rows x d) with their labels.
double largest_gradient_norm(const HeadMatrices& head, const Transformation& t, const Eigen::MatrixXd& B,
                             const Eigen::MatrixXd& target_points, const std::vector<std::int64_t>& labels);

// The head's mean cross-entropy on each class of a split (0 for an absent class).
Eigen::VectorXd head_class_losses(const HeadMatrices& head, const float* z, const std::vector<std::int64_t>& y,
                                  std::int64_t rows, std::int64_t dim, std::int64_t classes);

// Rows of a float row-major block as double.
Eigen::MatrixXd as_double(const float* data, std::int64_t rows, std::int64_t cols);

}  // namespace taskrel::relatedness
