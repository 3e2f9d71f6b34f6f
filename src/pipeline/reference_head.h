// The reference head h_R of a triple (DESIGN.md 1.2): the encoder's own
// classifier when the store has one at /<encoder>/<reference>/head (adapted
// to standardised inputs), else one trained with the gradient-norm penalty.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>

#include "io/head_reader.h"
#include "relatedness/head.h"
#include "relatedness/task_data.h"

namespace taskrel::pipeline {

// Reference heads already trained in this process, by (store, encoder,
// reference): training is deterministic for the data and options, so a zoo
// run trains each reference head once, not once per target.
struct HeadMemo {
  std::map<std::string, std::pair<relatedness::LinearHead, relatedness::HeadReport>> heads;
};

// The stored head of encoder/reference (read before standardising, since it
// acts on raw embeddings), or nullopt; InputError when it is malformed or
// does not fit the reference task (classes x d).
std::optional<io::StoredHead> stored_head_of(const std::string& store, const relatedness::TaskData& reference);

struct ChosenHead {
  relatedness::LinearHead head;
  relatedness::HeadReport report;  // training report, or from_store
};

// The stored head (mapped to the standardised inputs when `standardized`)
// when there is one, else a head trained on the reference train split
// (memoised in `memo` under `store`).
ChosenHead choose_reference_head(const std::optional<io::StoredHead>& stored, const relatedness::TaskData& reference,
                                 bool standardized, const relatedness::HeadOptions& options, const std::string& store,
                                 HeadMemo* memo);

}  // namespace taskrel::pipeline
