// `taskrel correlate`: the paper's correlation tables from the results of
// `taskrel matrix` and a CSV of fine-tuning accuracies (correlation/correlate.h).
// Not an MPI job: rank 0 does the work and prints; other ranks only exit.
#include <filesystem>
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/option_flags.h"
#include "core/error.h"
#include "correlation/correlate.h"
#include "io/atomic_file.h"

namespace taskrel::cli {

namespace {

std::vector<std::string> all_or_statistics() {
  std::vector<std::string> names = {"all"};
  for (const auto& name : enum_choices<correlation::Statistic>()) names.push_back(name);
  return names;
}

struct CorrelateCliOptions {
  std::string scores, accuracy;
  correlation::CorrelateOptions::Grouping by = correlation::CorrelateOptions::Grouping::kByTarget;
  std::vector<std::string> columns;
  std::vector<std::string> lower_is_better;
  std::size_t bootstrap = 1000;
  std::uint64_t seed = 0;
  double confidence = 0.95;
  std::size_t min_encoders = 3;
  std::string stat = "all";
  bool show_ci = false;
  bool wide = false;
  std::size_t width = 100;
  bool json = false;
  std::string output;

  void add_to(CLI::App& c) {
    c.add_option("--scores", scores,
                 "relatedness.csv of `taskrel matrix` (encoder, reference, target, status, score columns); rows "
                 "whose status is not ok are skipped with a warning")
        ->required();
    c.add_option("--accuracy", accuracy,
                 "Fine-tuning accuracies: CSV encoder,target,accuracy (with a reference column, the join is on "
                 "(encoder, reference, target)); keys must match --scores exactly")
        ->required();
    add_enum_flag(c, "--by", by, "Groups: one per (reference, target), or all rows pooled");
    c.add_option("--columns", columns,
                 "Score columns (comma-separated); default: relatedness, reweighted_loss, label_mismatch, "
                 "tau_distribution_mismatch, distribution_mismatch, target_loss and every metrics_* column")
        ->delimiter(',');
    c.add_option("--lower-is-better", lower_is_better,
                 "Extra columns where lower = more transferable (the relatedness terms already are; metrics_* "
                 "baselines and other columns are higher = more transferable)")
        ->delimiter(',');
    c.add_option("--bootstrap", bootstrap, "Bootstrap resamples of the encoders per group (0: no intervals)")
        ->capture_default_str();
    c.add_option("--seed", seed, "Seed of the bootstrap")->capture_default_str();
    c.add_option("--confidence", confidence, "Level of the percentile bootstrap intervals")
        ->check(CLI::Range(0.5, 0.999))->capture_default_str();
    c.add_option("--min-encoders", min_encoders, "Fewest encoders in a group for a correlation (else n/a)")
        ->check(CLI::Range(std::size_t{2}, std::size_t{1000000}))->capture_default_str();
    c.add_option("--stat", stat, "Table(s) to print: pearson, spearman, kendall, weighted_tau, relative_top1 or all")
        ->check(CLI::IsMember(all_or_statistics()))
        ->capture_default_str();
    c.add_flag("--show-ci", show_ci, "Print the bootstrap interval next to each value in the tables");
    c.add_flag("--wide", wide,
               "Tables with a row per target and a column per score (the paper's shape; ~250 characters wide with "
               "all baselines) instead of a row per score and a column per target");
    c.add_option("--width", width, "Widest line of the default tables (their target columns wrap into blocks)")
        ->check(CLI::Range(std::size_t{40}, std::size_t{100000}))->capture_default_str();
    c.add_flag("--json", json, "Print everything (per group and column: each statistic, interval, pick) as JSON");
    c.add_option("--output", output, "Also write the results to FILE.json or FILE.csv (long format)");
  }
};

int run_correlate(const CorrelateCliOptions& o, Communicator& world) {
  if (world.rank() != 0) return kExitSuccess;
  const auto extension = std::filesystem::path(o.output).extension().string();
  if (!o.output.empty() && extension != ".json" && extension != ".csv")
    throw InputError(fmt::format("--output {}: the name must end in .json or .csv", o.output));

  correlation::CorrelateOptions options;
  options.grouping = o.by;
  options.columns = o.columns;
  options.lower_is_better = o.lower_is_better;
  options.bootstrap = o.bootstrap;
  options.seed = o.seed;
  options.level = o.confidence;
  options.min_encoders = o.min_encoders;

  const auto scores = read_csv(o.scores);
  const auto accuracy = read_csv(o.accuracy);
  const auto report = correlation::correlate(scores, accuracy, options);

  if (!o.output.empty())
    io::write_file_atomically(o.output, extension == ".json" ? correlation::report_json(report).dump(2) + "\n"
                                              : correlation::report_csv(report));
  if (o.json) {
    std::cout << correlation::report_json(report).dump(2) << std::endl;
    return kExitSuccess;
  }
  bool first = true;
  for (correlation::Statistic statistic : correlation::kAllStatistics) {
    if (o.stat != "all" && o.stat != enum_name(statistic)) continue;
    if (!first) std::cout << "\n";
    first = false;
    std::cout << (o.wide ? correlation::report_table(report, statistic, o.show_ci)
                         : correlation::report_table_by_method(report, statistic, o.show_ci, o.width));
  }
  if (o.bootstrap > 0 && !o.show_ci)
    std::cout << fmt::format("\n{:.0f}% bootstrap intervals ({} resamples, seed {}): --show-ci or --json\n",
                             100 * o.confidence, o.bootstrap, o.seed);
  std::cout << std::flush;
  return kExitSuccess;
}

}  // namespace

void add_correlate_command(CLI::App& root, CommandAction& action) {
  auto options = std::make_shared<CorrelateCliOptions>();
  CLI::App* command = root.add_subcommand(
      "correlate",
      "Correlation (Pearson, Spearman, Kendall, weighted tau) of each score with fine-tuning accuracy across "
      "encoders, per target, with relative top-1 accuracy and bootstrap intervals");
  options->add_to(*command);
  command->callback([options, &action]() {
    action = [options](Communicator& world) { return run_correlate(*options, world); };
  });
}

}  // namespace taskrel::cli
