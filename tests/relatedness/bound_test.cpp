// The pieces the label-exact bound rests on: the coupling keeps B D = P_T
// and its gradient is right (finite differences); tau_global is a Lipschitz
// constant of the transferred loss (random pairs); and on synthetic triples
// the reported bound holds (relatedness >= target_loss), with Abar = A^{-1},
// B D = P_T, the support tau <= tau_global, and a fit that converged.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "comm/mpi_communicator.h"
#include "relatedness/head.h"
#include "relatedness/label_coupling.h"
#include "relatedness/relate.h"
#include "relatedness/transferred_classifier.h"

namespace taskrel::relatedness {
namespace {

Eigen::MatrixXd random_matrix(Eigen::Index rows, Eigen::Index cols, unsigned seed, double scale = 1.0) {
  std::mt19937 engine(seed);
  std::normal_distribution<double> normal(0.0, scale);
  Eigen::MatrixXd m(rows, cols);
  for (Eigen::Index i = 0; i < rows; ++i)
    for (Eigen::Index j = 0; j < cols; ++j) m(i, j) = normal(engine);
  return m;
}

TEST(LabelCoupling, KeepsTheTargetPriorForAnyLogits) {
  const Eigen::MatrixXd logits = random_matrix(3, 5, 1, 3.0);
  Eigen::VectorXd prior(3);
  prior << 0.5, 0.3, 0.2;
  const Eigen::MatrixXd pi = coupling_of(logits, prior);
  const Eigen::MatrixXd B = label_map(pi);
  const Eigen::VectorXd D = reweighted_prior(pi);
  EXPECT_NEAR((B * D - prior).cwiseAbs().sum(), 0.0, 1e-12);
  EXPECT_NEAR(D.sum(), 1.0, 1e-12);
  for (Eigen::Index j = 0; j < 5; ++j) EXPECT_NEAR(B.col(j).sum(), 1.0, 1e-12);
  EXPECT_GE(label_mismatch(pi), 0.0);
}

TEST(LabelCoupling, GradientMatchesFiniteDifferences) {
  const Eigen::MatrixXd logits = random_matrix(3, 4, 2);
  Eigen::VectorXd prior(3);
  prior << 0.2, 0.5, 0.3;
  Eigen::VectorXd losses(4);
  losses << 0.3, 1.1, 0.7, 2.0;
  const Eigen::MatrixXd duals = random_matrix(3, 4, 3);
  const double tau = 0.4;
  auto objective = [&](const Eigen::MatrixXd& pi) {
    return reweighted_prior(pi).dot(losses) + label_mismatch(pi) + tau * pi.cwiseProduct(duals).sum();
  };
  const Eigen::MatrixXd pi = coupling_of(logits, prior);
  const Eigen::MatrixXd g = coupling_gradient(pi, losses, tau, duals);
  for (Eigen::Index k = 0; k < 3; ++k)
    for (Eigen::Index j = 0; j < 4; ++j) {
      Eigen::MatrixXd up = pi, down = pi;
      up(k, j) += 1e-6;
      down(k, j) -= 1e-6;
      EXPECT_NEAR(g(k, j), (objective(up) - objective(down)) / 2e-6, 1e-5) << k << "," << j;
    }
}

TEST(TransferredClassifier, GlobalTauIsALipschitzConstant) {
  HeadMatrices head{random_matrix(4, 6, 4, 2.0), random_matrix(4, 1, 5).col(0)};
  Transformation t = identity_transformation(6, Eigen::MatrixXd::Zero(3, 4));
  t.A = Eigen::MatrixXd::Identity(6, 6) + 0.3 * random_matrix(6, 6, 6);
  t.Abar = t.A.inverse();
  t.b = random_matrix(6, 1, 7).col(0);
  Eigen::VectorXd prior(3);
  prior << 0.3, 0.3, 0.4;
  t.coupling_logits = random_matrix(3, 4, 8);
  const Eigen::MatrixXd B = label_map(label_coupling(t, prior));
  const double tau = global_lipschitz(head, t.Abar).tau;
  // Nearby pairs, where the ratio approaches the local gradient norm.
  const Eigen::MatrixXd x = random_matrix(400, 6, 9, 3.0), y = x + random_matrix(400, 6, 10, 0.01);
  const Eigen::MatrixXd fx = losses_in_reference_space(head, B, to_reference_space(t, x));
  const Eigen::MatrixXd fy = losses_in_reference_space(head, B, to_reference_space(t, y));
  double largest_ratio = 0;
  for (Eigen::Index i = 0; i < 400; ++i)
    for (Eigen::Index k = 0; k < 3; ++k)
      largest_ratio = std::max(largest_ratio, std::abs(fx(i, k) - fy(i, k)) / (x.row(i) - y.row(i)).norm());
  EXPECT_LE(largest_ratio, tau * (1 + 1e-9));
  EXPECT_GT(largest_ratio, 0.01 * tau);  // and not vacuous
  std::vector<std::int64_t> labels(400);
  for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<std::int64_t>(i % 3);
  EXPECT_LE(largest_gradient_norm(head, t, B, x, labels), tau * (1 + 1e-9));
}

// Four Gaussian blobs in 4-d; `shift` moves and `scale` stretches the target.
TaskData blob_task(const std::string& name, unsigned seed, double scale, double shift, bool random_labels) {
  const double centers[4][4] = {{0, 0, 0, 0}, {6, 0, 1, 0}, {0, 6, 0, -1}, {-2, -1, 6, 3}};
  std::mt19937 engine(seed);
  std::normal_distribution<double> normal(0.0, 0.7);
  auto split = [&](std::int64_t per_class) {
    Split s;
    s.dim = 4;
    for (int k = 0; k < 4; ++k)
      for (std::int64_t i = 0; i < per_class; ++i) {
        for (int c = 0; c < 4; ++c) s.z.push_back(static_cast<float>(scale * (centers[k][c] + normal(engine)) + shift));
        s.y.push_back(random_labels ? static_cast<std::int64_t>(engine() % 4) : k);
      }
    s.rows = static_cast<std::int64_t>(s.y.size());
    return s;
  };
  TaskData t;
  t.encoder = "enc";
  t.dataset = name;
  t.num_classes = 4;
  t.dim = 4;
  t.train = split(120);
  t.test = split(80);
  t.has_test = true;
  t.test_split = "test";
  return t;
}

// The three synthetic triples, fitted once per process (collective).
struct Triples {
  std::vector<std::pair<std::string, RelateResult>> results;
  RelateOptions options;
  Triples() {
    auto world = MpiCommunicator::world();
    const TaskData reference = blob_task("ref", 1, 1.0, 0.0, false);
    HeadOptions head_options;
    head_options.tau0 = 0.2;
    HeadReport report;
    const LinearHead head =
        train_head(reference.train.z, reference.train.y, reference.train.rows, 4, 4, head_options, report);
    options.seed = 5;
    options.log_every = 0;
    for (const auto& target : {blob_task("same", 2, 1.0, 0.0, false), blob_task("stretched", 3, 1.6, 2.0, false),
                               blob_task("random", 4, 1.0, 0.0, true)})
      results.emplace_back(target.dataset, relate(world, reference, target, head, options));
  }
  const RelateResult& operator[](const std::string& name) const {
    for (const auto& [n, r] : results)
      if (n == name) return r;
    throw std::out_of_range(name);
  }
};

const Triples& triples() {
  static Triples t;
  return t;
}

TEST(Bound, HoldsOnEveryReportedTripleWithItsConstraintsExact) {
  for (const auto& [name, r] : triples().results) {
    SCOPED_TRACE(name);
    EXPECT_TRUE(r.bound_holds) << "relatedness " << r.relatedness << " < target loss " << r.target_loss;
    EXPECT_NEAR(r.gap, r.relatedness - r.target_loss, 1e-12);
    // h_T's loss on the transformed reference is <= RW + H when Abar = A^{-1},
    // and the middle step of the proof still bounds the left side.
    EXPECT_LE(r.transformed_bound, r.relatedness + 1e-9);
    EXPECT_GE(r.transformed_bound, r.target_loss - 1e-6);
    EXPECT_LT(r.prior_mismatch, 1e-9);          // B D = P_T
    EXPECT_LT(r.invertibility_residual, 1e-9);  // Abar = A^{-1}
    EXPECT_LE(r.tau, r.tau_global * (1 + 1e-9));
    EXPECT_TRUE(r.fit_converged) << r.epochs << " epochs";
    EXPECT_LT(r.epochs, triples().options.epochs);
  }
}

TEST(Bound, RelatedTargetIsTighterThanRandomLabels) {
  const RelateResult& stretched = triples()["stretched"];
  EXPECT_LT(stretched.relatedness + 0.3, triples()["random"].relatedness);
  EXPECT_GT(stretched.target_accuracy, 0.9);  // A undid the stretch and the shift
  EXPECT_LT(triples()["same"].relatedness, stretched.relatedness + 1e-9);
}

}  // namespace
}  // namespace taskrel::relatedness
