// `taskrel correlate`: how well each score predicts fine-tuning accuracy
// across the encoders of a zoo (the paper's correlation tables).
//
// Inputs are relatedness.csv of `taskrel matrix` (one row per encoder,
// reference, target) and finetune.csv (encoder, target[, reference],
// accuracy). Rows are joined on (encoder, target), plus reference when
// finetune.csv has that column; keys found in one file only are an error.
// Rows whose status is not "ok" are skipped with a warning.
//
// Per group (one per (reference, target), or all rows pooled), across the
// group's encoders, for every score column: Pearson, Spearman, Kendall tau-b
// and weighted tau against accuracy (raw: a lower-is-better score such as
// relatedness should correlate negatively), the relative top-1 accuracy of
// the encoder the score would pick, each with a percentile bootstrap
// interval. Undefined values (too few encoders, constant input) are empty,
// never NaN; the mean row averages the defined values over groups.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/enum_names.h"
#include "correlation/bootstrap.h"
#include "core/csv_table.h"

namespace taskrel::correlation {

enum class Direction { kLowerIsBetter, kHigherIsBetter };

struct ScoreColumn {
  std::string name;
  Direction direction = Direction::kHigherIsBetter;
};

// The statistics of one (group, score column) cell, in a fixed order.
enum class Statistic { kPearson, kSpearman, kKendall, kWeightedTau, kRelativeTop1 };
inline constexpr Statistic kAllStatistics[] = {Statistic::kPearson, Statistic::kSpearman, Statistic::kKendall,
                                               Statistic::kWeightedTau, Statistic::kRelativeTop1};

// The automatic score columns, lower is better: the relatedness and its terms.
extern const std::vector<std::string> kRelatednessColumns;
// The direction of a column: the relatedness family and --lower-is-better
// names are lower-is-better; everything else (the metrics_* baselines:
// LogME, LEEP, ..., and unknown extra columns) higher-is-better.
Direction column_direction(const std::string& name, const std::vector<std::string>& lower_is_better);

struct CorrelateOptions {
  enum class Grouping { kByTarget, kNone };
  Grouping grouping = Grouping::kByTarget;
  std::vector<std::string> columns;          // empty: automatic
  std::vector<std::string> lower_is_better;  // extra lower-is-better column names
  std::size_t bootstrap = 1000;              // resamples; 0: no intervals
  std::uint64_t seed = 0;
  double level = 0.95;                       // confidence level of the intervals
  std::size_t min_encoders = 3;              // fewer: correlations are undefined
};

struct Estimate {
  std::optional<double> value;
  BootstrapInterval interval;
};

struct CellResult {
  Estimate statistics[5];                    // indexed by Statistic
  std::optional<std::string> selected_encoder;  // the score's pick (relative top-1)
  const Estimate& operator[](Statistic s) const { return statistics[static_cast<int>(s)]; }
  Estimate& operator[](Statistic s) { return statistics[static_cast<int>(s)]; }
};

struct GroupResult {
  std::string label, reference, target;      // reference/target empty when pooled
  std::vector<std::string> encoders;         // name order
  std::vector<double> accuracy;              // per encoder
  std::vector<CellResult> cells;             // per score column
};

struct CorrelationReport {
  std::string scores_source, accuracy_source;
  CorrelateOptions options;
  std::vector<ScoreColumn> columns;
  std::vector<GroupResult> groups;
  std::vector<std::string> skipped_rows;     // "encoder/reference/target (status: error)"
  std::vector<std::string> warnings;         // also logged
  // Mean over groups of each statistic's defined values, per column.
  std::vector<std::array<std::optional<double>, 5>> means;
  // Its bootstrap interval, per column and statistic: resample b of the mean
  // is the mean over groups of each group's resample b (the groups' encoders
  // are resampled independently: a stratified bootstrap). Groups whose value
  // is undefined are left out, as in the mean; a resample is dropped when
  // every remaining group's draw is undefined.
  std::vector<std::array<BootstrapInterval, 5>> mean_intervals;
};

CorrelationReport correlate(const CsvTable& scores, const CsvTable& accuracy, const CorrelateOptions& options);

nlohmann::json report_json(const CorrelationReport& report);
// The paper-shaped (wide) table of one statistic: a row per group plus "mean",
// a column per score, a header line per column with its direction.
std::string report_table(const CorrelationReport& report, Statistic statistic, bool show_intervals);
// The same numbers with a row per score and a column per group (the mean
// first), for a terminal: the value columns are cut into blocks so that no
// line is wider than `max_width`.
std::string report_table_by_method(const CorrelationReport& report, Statistic statistic, bool show_intervals,
                                   std::size_t max_width = 100);
// Long format: group, reference, target, column, direction, statistic, value, ci_lower, ci_upper, n_encoders.
std::string report_csv(const CorrelationReport& report);

}  // namespace taskrel::correlation

namespace taskrel {

template <>
struct EnumNames<correlation::Statistic> {
  static constexpr const char* what = "statistic";
  static constexpr EnumName<correlation::Statistic> names[] = {
      {correlation::Statistic::kPearson, "pearson"},         {correlation::Statistic::kSpearman, "spearman"},
      {correlation::Statistic::kKendall, "kendall"},         {correlation::Statistic::kWeightedTau, "weighted_tau"},
      {correlation::Statistic::kRelativeTop1, "relative_top1"}};
};

template <>
struct EnumNames<correlation::CorrelateOptions::Grouping> {
  static constexpr const char* what = "grouping";
  // "target": one group per (reference, target); "none": all rows pooled.
  static constexpr EnumName<correlation::CorrelateOptions::Grouping> names[] = {
      {correlation::CorrelateOptions::Grouping::kByTarget, "target"},
      {correlation::CorrelateOptions::Grouping::kNone, "none"}};
};

}  // namespace taskrel
