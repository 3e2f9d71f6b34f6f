// The job spec of `taskrel matrix` (TOML, jobs/*.toml): which store, which
// encoders, references and targets, the relatedness options of `taskrel
// relate`, the seed, ranks_per_triple and the output directory.
//
// parse_job_spec validates everything that can be checked without reading
// embeddings, before any work starts: unknown keys (typos, with a
// suggestion), wrong types and ranges, a missing store, unknown encoders or
// datasets, missing train splits, dimension mismatches between the tasks of
// one encoder, too few rows for the classes, malformed stored heads. All
// problems are reported together in one InputError, each naming the job file
// and the key, or the store file and HDF5 path.
//
// Relative paths in the spec are relative to the directory of the job file.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pipeline/triple_options.h"

namespace taskrel::matrix {

// One cell of the matrix, by index into JobSpec's axes.
struct Triple {
  int encoder = 0, reference = 0, target = 0;
  double cost = 0;  // work estimate for largest-first ordering (pairs of points)
};

struct JobSpec {
  std::string job_file;
  std::string name;
  std::string store;                     // as resolved: a file or a directory
  std::vector<std::string> store_files;  // the HDF5 files of the store
  std::string output;                    // output directory (resolved)
  std::vector<std::string> encoders, references, targets;  // the matrix axes
  bool self_pairs = false;
  int ranks_per_triple = 1;
  double cache_gib = 2.0;        // per rank, for loaded tasks
  double progress_seconds = 60;  // batch-log progress line interval
  int progress_triples = 0;      // ... and/or every N triples (0: off)
  pipeline::TripleOptions options;  // [relate] and the triple keys of the top level (seed, device, threads)
  std::vector<Triple> triples;   // every cell to compute, in axis order
  // File holding encoder/dataset: store_file[encoder][dataset index in the union of references and targets].
  std::vector<std::vector<std::string>> task_file;  // [encoder][dataset], dataset over `datasets`
  std::vector<std::string> datasets;                // union of references and targets (axis of task_file)

  // The options that change a triple's result (pipeline::result_options_json:
  // the relate options and the seed), and a hash of it that the journal records.
  nlohmann::json result_options() const;
  std::string result_hash() const;

  const std::string& file_of(int encoder, const std::string& dataset) const;
  std::string key(const Triple& t) const;  // "encoder/reference/target"
};

// The job's own scalar keys (none changes a triple's result), as an option
// table (core/option_table.h) that the reader walks; the structural keys
// (store, output, name, encoders, references, targets) are read by hand.
template <typename Spec, typename Visit>
void visit_job_options(Spec& spec, Visit&& visit) {
  using options::Effect;
  using options::Section;
  visit(options::option("self_pairs", spec.self_pairs, "Also the triples with reference == target",
                        Effect::kRunOnly, options::any(), Section::kTop));
  visit(options::option("ranks_per_triple", spec.ranks_per_triple,
                        "Ranks that share one triple's OT; groups = ranks / this", Effect::kRunOnly,
                        options::at_least(1), Section::kTop));
  visit(options::option("cache_gib", spec.cache_gib, "Per rank: GiB of loaded tasks kept for the next triples",
                        Effect::kRunOnly, options::at_least(0), Section::kTop));
  visit(options::option("progress_seconds", spec.progress_seconds, "Batch log: a progress line this often",
                        Effect::kRunOnly, options::above(0), Section::kTop));
  visit(options::option("progress_triples", spec.progress_triples,
                        "Batch log: also a progress line every this many triples (0: off)", Effect::kRunOnly,
                        options::at_least(0), Section::kTop));
}

// Overrides from the command line, applied before validation.
struct JobOverrides {
  std::string output;                  // replaces `output`
  std::string store;                   // replaces `store`
  std::vector<std::string> encoders;   // restrict to these encoders (array jobs)
  std::optional<ot::Device> device;    // replaces `device`
  std::optional<ot::CostPrecision> precision;  // replaces [relate] `precision`
};

// Reads and validates the spec; InputError listing every problem.
JobSpec parse_job_spec(const std::string& path, const JobOverrides& overrides = {});

}  // namespace taskrel::matrix
