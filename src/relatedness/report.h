// The report of a fitted transformation: the bound and every diagnostic on
// the reported points (relate.h says what, exactly). Plain Eigen; the OT is
// the sharded label-aware Sinkhorn. Collective over `comm`.
#pragma once

#include "comm/communicator.h"
#include "relatedness/relate.h"
#include "relatedness/transferred_classifier.h"

namespace taskrel::relatedness {

// `target_eval` holds the target points to report on with their labels (the
// target test split; with pseudo-labels the target train split with its
// final labels). Fills the bound's terms, target loss and accuracy, tau's
// three readings, B, D and the OT diagnostics of `result`.
void report(Communicator& comm, const Transformation& theta, const TaskData& reference, const Split& target_eval,
            std::int64_t target_classes, const LinearHead& head, const RelateOptions& options, bool keep_transform,
            RelateResult& result);

}  // namespace taskrel::relatedness
