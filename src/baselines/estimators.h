// The baseline transferability estimators of DESIGN.md section 2, one
// function per estimator (one .cpp each). Every one follows its authors'
// published formula; the comment of each function names the paper, the
// variant where the authors' code differs, and the sign. All return "higher
// = more transferable" (PACTran is negated for that; see pactran.cpp).
//
// Inputs: `features` n x d (the standardised target train features relate
// uses), `labels` in [0, classes) with every class non-empty (compute_metrics
// drops absent classes first), `source_probabilities` n x K_R (softmax of the
// reference head on the target points). Degenerate inputs give a documented
// value and a spdlog warning naming the metric; no estimator returns NaN.
#pragma once

#include <cstdint>
#include <vector>

#include <Eigen/Dense>

namespace taskrel::baselines {

using Matrix = Eigen::MatrixXd;
using Labels = std::vector<std::int64_t>;

double logme(const Matrix& features, const Labels& labels, std::int64_t classes);
double leep(const Matrix& source_probabilities, const Labels& labels, std::int64_t classes);
double nce(const Matrix& source_probabilities, const Labels& labels, std::int64_t classes);
// `centres`, when given, receives the k-means++ seed rows of the GMM (tests
// rebuild the same initialisation for scikit-learn from them).
double nleep(const Matrix& features, const Labels& labels, std::int64_t classes, std::uint64_t seed,
             std::vector<std::int64_t>* centres = nullptr);
double hscore(const Matrix& features, const Labels& labels, std::int64_t classes);
double shrinkage_hscore(const Matrix& features, const Labels& labels, std::int64_t classes);
double transrate(const Matrix& features, const Labels& labels, std::int64_t classes, double epsilon = 1e-4);
double gbc(const Matrix& features, const Labels& labels, std::int64_t classes);
double sfda(const Matrix& features, const Labels& labels, std::int64_t classes);
double pactran(const Matrix& features, const Labels& labels, std::int64_t classes);

// OTCE / OT-NCE (Tan et al.): exact EMD between reference and target
// features, the joint label distribution read off the coupling.
struct OtConditionalEntropy {
  double wasserstein = 0.0;          // sum_ij P_ij C_ij
  double conditional_entropy = 0.0;  // H(Y_T | Y_R) under the coupling
  std::int64_t reference_points = 0, target_points = 0;
};
OtConditionalEntropy ot_conditional_entropy(const Matrix& reference_features, const Labels& reference_labels,
                                            std::int64_t reference_classes, const Matrix& target_features,
                                            const Labels& target_labels, std::int64_t target_classes,
                                            std::int64_t max_points_per_side, std::uint64_t seed);

}  // namespace taskrel::baselines
