// Where the label part of the transformation starts, or stays when it is not
// learned (settings learned-A and fixed-all): the co-occurrence of each
// target point's label with the reference class whose mean is nearest, and,
// when both tasks have the same number of classes, the one-to-one matching
// that maximises it (Hungarian algorithm).
#pragma once

#include <cstdint>
#include <vector>

#include <Eigen/Dense>

#include "relatedness/task_data.h"

namespace taskrel::relatedness {

struct LabelStart {
  Eigen::MatrixXd counts;                   // K_T x K_R co-occurrence counts
  std::vector<std::int64_t> permutation;    // target class of each reference class; empty unless K_T == K_R
};

LabelStart match_labels(const TaskData& reference, const Split& target, const std::vector<std::int64_t>& target_labels,
                        std::int64_t target_classes);

// Coupling logits (label_coupling.h) that hold a fixed label map: the
// permutation when there is one (each target class from its matched
// reference class), else the co-occurrence, row-normalised (smoothed by
// 1e-3 so that no logit is infinite).
Eigen::MatrixXd fixed_coupling_logits(const LabelStart& start);

// The column-normalised co-occurrence (P(target label | reference label)),
// or the permutation as a 0/1 matrix: the fixed B of the paper-code mode.
Eigen::MatrixXd fixed_label_map(const LabelStart& start);

}  // namespace taskrel::relatedness
