// Reading one task of an embedding store into the TaskData the relatedness
// analysis and the baselines use: the train split (to fit) and the test split
// (to report; a copy of the train split when the store has none), whole on
// every rank (the analysis shards the OT work, not the storage: a triple's
// two tasks fit in memory).
#pragma once

#include <string>

#include "relatedness/task_data.h"

namespace taskrel::pipeline {

// Reads `encoder/dataset` (train split required, test split when present).
// InputError naming the store and path for an unknown encoder or dataset or
// a missing train split, and for whatever the store's reader rejects (NaN,
// labels out of range, ...).
relatedness::TaskData load_task(const std::string& store_path, const std::string& encoder, const std::string& dataset);

}  // namespace taskrel::pipeline
