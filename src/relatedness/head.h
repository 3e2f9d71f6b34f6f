// The reference head h_R (DESIGN.md 1.2): a linear softmax classifier
// z -> softmax(W z + c) on the reference embeddings, trained with
// cross-entropy plus the gradient-norm penalty
//   gamma * mean(relu(||grad_z CE(Wz + c, y)|| - tau0)^2)
// on the true labels and on (fixed, seeded) random labels. For a linear head
// grad_z CE = W^T (softmax(Wz + c) - e_y) in closed form, so the penalty is an
// ordinary differentiable function of (W, c). Full-batch Adam until the
// relative loss change stays below the tolerance (or max_epochs). The bias is
// unpenalised and starts at log of the class prior, so it is learned properly.
#pragma once

#include <cstdint>
#include <vector>

namespace taskrel::relatedness {

struct HeadOptions {
  double gamma = 1e4;
  double tau0 = 0.02;
  double lr = 1e-2;
  int max_epochs = 3000;
  double tolerance = 1e-6;   // relative loss change per epoch, held for 20 epochs
  std::uint64_t seed = 0;
};

struct LinearHead {
  std::int64_t classes = 0, dim = 0;
  std::vector<float> weight;  // classes x dim
  std::vector<float> bias;    // classes
};

struct HeadReport {
  bool from_store = false;
  int epochs = 0;
  bool converged = false;
  double loss = 0;              // final training objective (CE + penalties)
  double train_ce = 0, train_accuracy = 0;
  double test_ce = 0, test_accuracy = 0;
  double lipschitz = 0;         // largest ||grad_z CE|| over the reference test points (true labels)
  double spectral_norm = 0;     // ||W||_2, a bound on the Lipschitz constant of the logits
  double seconds = 0;
};

LinearHead train_head(const std::vector<float>& z, const std::vector<std::int64_t>& y, std::int64_t rows,
                      std::int64_t dim, std::int64_t classes, const HeadOptions& options, HeadReport& report);

// Accuracy, mean CE, largest input-gradient norm and per-class mean CE of a
// head on a split (fills report.test_*, report.lipschitz, report.spectral_norm).
std::vector<double> evaluate_head(const LinearHead& head, const std::vector<float>& z,
                                  const std::vector<std::int64_t>& y, std::int64_t rows, HeadReport& report);

}  // namespace taskrel::relatedness
