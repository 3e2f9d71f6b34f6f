// `taskrel relate`: task relatedness of one (encoder, reference, target)
// triple (DESIGN.md section 1). Every rank loads both tasks; the OT work of
// the fit and of the report is sharded over the ranks.
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <thread>

#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "core/error.h"
#include "cli/option_flags.h"
#include "pipeline/triple.h"

namespace taskrel::cli {

namespace {

struct RelateCliOptions {
  std::string store, encoder, reference, target;
  std::string json;
  pipeline::TripleOptions triple;  // every option of the triple, from its table

  void add_to(CLI::App& c) {
    c.add_option("--store", store, "Embedding store (HDF5)")->required();
    c.add_option("--encoder", encoder, "Encoder group in the store")->required();
    c.add_option("--reference", reference, "Reference task (dataset) R")->required();
    c.add_option("--target", target, "Target task (dataset) T")->required();
    c.add_option("--json", json, "Write the result as JSON to this file ('-' for stdout)");
    pipeline::visit_triple_options(triple, [&](const auto& entry) { add_option_flag(c, entry); });
  }
};

std::string matrix_table(const std::vector<double>& values, std::int64_t rows, std::int64_t cols) {
  std::string out = "        ";
  for (std::int64_t j = 0; j < cols; ++j) out += fmt::format(" R{:<5}", j);
  out += "\n";
  for (std::int64_t k = 0; k < rows; ++k) {
    out += fmt::format("    T{:<3}", k);
    for (std::int64_t j = 0; j < cols; ++j) out += fmt::format(" {:6.3f}", values[k * cols + j]);
    out += "\n";
  }
  return out;
}

int run_relate(RelateCliOptions& o, Communicator& world) {
  pipeline::TripleOptions& triple = o.triple;
  std::vector<std::string> problems;
  pipeline::validate_triple_options(triple, [&](const char* key, options::Section, const std::string& problem) {
    problems.push_back(fmt::format("{} {}", options::flag_of(key), problem));
  });
  if (!problems.empty()) throw InputError(fmt::format("taskrel relate: {}", fmt::join(problems, "; ")));
  relatedness::configure_threads(triple.threads, world.size());
  const relatedness::RelateOptions& options = triple.relate;

  // Loading, standardising, the head and the JSON are shared with `taskrel matrix`.
  relatedness::RelateResult r;
  const pipeline::TripleRequest request{o.store, o.store, o.encoder, o.reference, o.target};
  const nlohmann::json j = pipeline::relate_triple(world, request, triple, pipeline::load_task_uncached, &r);
  const double seconds = j["seconds"].get<double>();
  const std::string target_split = j["target_rows"]["reported_split"].get<std::string>();

  if (world.rank() == 0) {
    if (!o.json.empty()) {
      if (o.json == "-") {
        std::cout << j.dump(2) << std::endl;
      } else {
        std::ofstream file(o.json);
        if (!file) throw InputError(fmt::format("{}: cannot write the JSON result", o.json));
        file << j.dump(2) << "\n";
        if (!file) throw RuntimeError(fmt::format("{}: write failed", o.json));
      }
    }
    if (o.json != "-") {
      std::cout << fmt::format("task relatedness  {} -> {} under {}  ({}, {}, {} cost, {} epochs, seed {})\n",
                               o.reference, o.target, o.encoder, enum_name(options.setting), enum_name(options.mode),
                               enum_name(options.cost), r.epochs, options.seed);
      std::cout << fmt::format("  relatedness            {:.6f}  = RW + H + tau * W_d\n", r.relatedness);
      std::cout << fmt::format("  reweighted loss  RW    {:.6f}\n", r.reweighted_loss);
      std::cout << fmt::format("  label mismatch   H     {:.6f}\n", r.label_mismatch);
      std::cout << fmt::format("  distribution     W_d   {:.6f}  (tau {:.6f}, tau * W_d {:.6f})\n",
                               r.distribution_mismatch, r.tau, r.tau * r.distribution_mismatch);
      std::cout << fmt::format("  transferred classifier on {} {}: CE {:.6f}, accuracy {:.4f}\n", o.target,
                               options.pseudo_labels ? "train (pseudo-labels)" : target_split, r.target_loss,
                               r.target_accuracy);
      std::cout << fmt::format("  prior mismatch ||P_T - B D||_1 {:.4g}, ||A Abar - I||_F {:.4g}, OT {} ({} it)\n",
                               r.prior_mismatch, r.invertibility_residual,
                               r.ot_converged ? "converged" : "NOT converged", r.ot_iterations);
      std::cout << fmt::format("  reference head ({}): accuracy {:.4f}, CE {:.4f}, Lipschitz {:.4g} (tau0 {}, gamma {})\n",
                               r.head.from_store ? "stored" : "trained", r.head.test_accuracy, r.head.test_ce,
                               r.head.lipschitz, options.head.tau0, options.head.gamma);
      if (options.pseudo_labels)
        std::cout << fmt::format("  pseudo-label agreement with stored labels {:.4f} (up to permutation)\n",
                                 r.pseudo_label_agreement);
      if (r.target_classes <= 12 && r.ref_classes <= 12)
        std::cout << "  B = P(target label | reference label):\n" << matrix_table(r.B, r.target_classes, r.ref_classes);
      std::cout << fmt::format("  time {:.2f} s (head {:.2f}, fit {:.2f}, report {:.2f}; OT {:.2f} on {}, fit on cpu)\n",
                               seconds, r.head.seconds, r.seconds_fit, r.seconds_eval, r.seconds_ot,
                               j["device"]["ot"].get<std::string>());
    }
  }
  return kExitSuccess;
}

}  // namespace

void add_relate_command(CLI::App& root, CommandAction& action) {
  auto options = std::make_shared<RelateCliOptions>();
  CLI::App* command = root.add_subcommand("relate", torch_command_description("relate"));
  options->add_to(*command);
  command->callback([options, &action]() {
    action = [options](Communicator& world) { return run_relate(*options, world); };
  });
}

}  // namespace taskrel::cli
