// W_d label by label (DESIGN.md 1.5) with the gradients the fit needs.
//
// The OT engine's solve_label_aware solves one entropic problem per target
// class k: the transformed reference points x_i = A z_i + b with masses
// a_ik = w_ik / s_k (s_k = sum_i w_ik) against the target points of class k.
// Its objective per class is OT_k = <P^k, C^k> + eps sum P^k (log P^k - 1)
// with P^k_ij = exp((f_i + g_j - C_ij) / eps). The fit minimises
// W = sum_k P_T(k) OT_k; its gradients are
//  - with respect to x_i (the plan held fixed, envelope theorem):
//      dW/dx_i = sum_k P_T(k) sum_j P^k_ij grad_x c(x_i, y_j)
//    (euclidean: (x_i - y_j) / ||x_i - y_j||, 0 at coincident points;
//     sqeuclidean: 2 (x_i - y_j));
//  - with respect to the class weights w_ik (the duals are the marginal
//    gradients, dOT_k/da_ik = f_i, chained through the normalisation):
//      dW/dw_ik = P_T(k) (f_i - sum_i' a_i'k f_i') / s_k.
// The fit turns these into a surrogate  sum_i <dW/dx_i, x_i(A, b)> +
// sum_ik dW/dw_ik w_ik(B, D)  whose autograd gradient is the OT gradient.
// Everything is per rank (this rank's rows); the caller all-reduces the
// parameter gradients.
#pragma once

#include <vector>

#include "comm/communicator.h"
#include "ot/label_aware.h"

namespace taskrel::relatedness {

struct WdGradient {
  double distance = 0.0;       // sum_k P_T(k) <P^k, C^k>  (the reported W_d)
  double objective = 0.0;      // sum_k P_T(k) OT_k        (what the gradients differentiate)
  double mass_mismatch = 0.0;  // ||P_T - B D||_1
  bool converged = true;
  int iterations = 0;
  double epsilon = 0.0;        // largest absolute epsilon over the classes
  std::vector<double> grad_x;  // x_local.rows x dim
  std::vector<double> grad_w;  // x_local.rows x num_classes
  std::vector<ot::Potentials> potentials;  // per class, to warm-start the next call
};

// Collective over `comm`. Every class weight must be positive if warm starts
// are to be reused (rows taking part must not change).
WdGradient label_exact_wd(Communicator& comm, const ot::LabelAwareProblem& problem,
                          const ot::SinkhornOptions& options, const std::vector<ot::Potentials>* warm_start = nullptr);

}  // namespace taskrel::relatedness
