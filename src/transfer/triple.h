// One (encoder, reference, target) triple from the store, end to end: load
// both tasks, take the target fraction, standardise, use the stored head or
// train one, run relate(), and describe the result as JSON. `taskrel relate`
// and `taskrel matrix` both go through here, so a matrix cell is exactly what
// `taskrel relate` prints for the same options and seed.
#pragma once

#include <functional>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "comm/communicator.h"
#include "metrics/metrics.h"
#include "transfer/relate.h"
#include "transfer/task_data.h"

namespace taskrel::transfer {

// Everything `taskrel relate` takes besides the triple itself. The names
// (setting, mode, cost) are kept as given so results record them verbatim.
struct TripleOptions {
  RelateOptions relate;              // relate.head.seed is set from relate.seed
  std::string setting = "learned-all";
  std::string mode = "label-exact";
  std::string cost = "euclidean";
  bool standardize = true;
  bool train_head = false;           // train even when the store has a head
  double target_fraction = 1.0;      // stratified fraction of the target train split
  std::string device;                // OT device: cpu | cuda | "" (cuda when built with it and a GPU is visible)
  // Baseline estimators computed beside relatedness (metrics/metrics.h names),
  // on the target train split after the fraction; none with pseudo-labels.
  std::vector<std::string> metrics = metrics::metric_names();
};

// Where the two tasks live: a zoo may be a directory of stores, so the
// reference and the target may come from different files.
struct TripleRequest {
  std::string reference_store, target_store;
  std::string encoder, reference, target;
};

// Loads one task (whole, unstandardised); a cache may stand behind it.
using TaskLoader = std::function<TaskData(const std::string& store, const std::string& encoder,
                                          const std::string& dataset)>;

// The default loader: load_task straight from the file.
TaskData load_task_uncached(const std::string& store, const std::string& encoder, const std::string& dataset);

// Reference heads already trained in this process, by (store, encoder,
// reference): training is deterministic for the data and options, so a zoo
// run trains each reference head once, not once per target.
struct HeadMemo {
  std::map<std::string, std::pair<LinearHead, HeadReport>> heads;
};

// Parses the names into options.relate (mode, setting, cost) and checks the
// ranges; InputError naming `where` + the option on a bad value.
void finish_triple_options(TripleOptions& options, const std::string& where);

// Runs the triple, collectively over `comm` (every rank passes the same
// request). InputError for bad data (unknown task, too few rows, a malformed
// stored head, NaN in the embeddings); every rank of `comm` throws the same
// one because every rank reads the same data. `result`, when given, receives
// the raw RelateResult. With `heads`, a trained head is reused (the head's
// reported training time is then that of its first training).
nlohmann::json relate_triple(Communicator& comm, const TripleRequest& request, const TripleOptions& options,
                             const TaskLoader& load = load_task_uncached, RelateResult* result = nullptr,
                             HeadMemo* heads = nullptr);

}  // namespace taskrel::transfer
