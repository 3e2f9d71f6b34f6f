// One (encoder, reference, target) triple from the store, end to end: load
// both tasks, take the target fraction, standardise, use the stored head or
// train one, run the relatedness analysis and the baseline estimators, and
// describe the result as one JSON record. `taskrel relate` and `taskrel
// matrix` both go through here, so a matrix cell is exactly what `taskrel
// relate` prints for the same options and seed.
//
// This is the layer above the two peers: relatedness (src/relatedness, which
// knows OT and communication only) and the baselines (src/baselines), with
// storage (io/) below it.
#pragma once

#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "comm/communicator.h"
#include "pipeline/reference_head.h"
#include "pipeline/triple_options.h"
#include "relatedness/relate.h"

namespace taskrel::pipeline {

// Where the two tasks live: a zoo may be a directory of stores, so the
// reference and the target may come from different files.
struct TripleRequest {
  std::string reference_store, target_store;
  std::string encoder, reference, target;
};

// Loads one task (whole, unstandardised); a cache may stand behind it.
using TaskLoader = std::function<relatedness::TaskData(const std::string& store, const std::string& encoder,
                                                       const std::string& dataset)>;

// The default loader: load_task straight from the file.
relatedness::TaskData load_task_uncached(const std::string& store, const std::string& encoder,
                                         const std::string& dataset);

// Runs the triple, collectively over `comm` (every rank passes the same
// request). `options` must have passed validate_triple_options. InputError
// for bad data (unknown task, too few rows, a malformed stored head, NaN in
// the embeddings); every rank of `comm` throws the same one because every
// rank reads the same data. `result`, when given, receives the raw
// RelateResult. With `heads`, a trained head is reused.
nlohmann::json relate_triple(Communicator& comm, const TripleRequest& request, const TripleOptions& options,
                             const TaskLoader& load = load_task_uncached, relatedness::RelateResult* result = nullptr,
                             HeadMemo* heads = nullptr);

}  // namespace taskrel::pipeline
