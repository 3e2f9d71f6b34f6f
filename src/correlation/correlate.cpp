#include "correlation/correlate.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <map>
#include <set>
#include <tuple>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/error.h"
#include "core/seed_mix.h"
#include "correlation/rank_correlation.h"

namespace taskrel::correlation {

// target_loss is the bound's left side (the transferred classifier's test
// loss): beside the bound, so a table shows what the bound adds to it.
const std::vector<std::string> kRelatednessColumns = {"relatedness",          "reweighted_loss",
                                                      "label_mismatch",       "tau_distribution_mismatch",
                                                      "distribution_mismatch", "target_loss"};

namespace {

// Other result columns where lower means "more transferable", should a user name them with --columns.
const std::set<std::string> kKnownLowerIsBetter = {"relatedness",          "reweighted_loss",
                                                   "label_mismatch",       "tau_distribution_mismatch",
                                                   "distribution_mismatch", "target_loss",
                                                   "prior_mismatch",       "transformed_bound",
                                                   "gap"};

// A finite number filling the whole field, else InputError naming file, line and column.
double parse_number(const CsvTable& table, std::size_t row, std::size_t column) {
  const std::string& text = table.rows[row][column];
  const char* begin = text.c_str();
  char* end = nullptr;
  errno = 0;
  const double value = std::strtod(begin, &end);
  const bool whole = !text.empty() && end == begin + text.size();
  if (!whole || !std::isfinite(value) || errno == ERANGE)
    throw InputError(fmt::format("{}: line {}, column '{}': '{}' is not a finite number", table.source,
                                 table.row_lines[row], table.header[column], text));
  return value;
}

std::string list_some(const std::vector<std::string>& items, std::size_t shown = 10) {
  std::string out;
  for (std::size_t i = 0; i < items.size() && i < shown; ++i) out += (i ? ", " : "") + items[i];
  if (items.size() > shown) out += fmt::format(", and {} more", items.size() - shown);
  return out;
}

using Key = std::tuple<std::string, std::string, std::string>;  // encoder, reference, target

std::string key_text(const Key& key, bool with_reference) {
  const auto& [encoder, reference, target] = key;
  if (!with_reference) return fmt::format("(encoder {}, target {})", encoder, target);
  return fmt::format("(encoder {}, reference {}, target {})", encoder, reference, target);
}

// The splitmix64 output of stream `stream` of the seed: unrelated draws for every group.
std::uint64_t mix_seed(std::uint64_t seed, std::uint64_t stream) {
  return splitmix64(seed + kSplitmixIncrement * stream);
}

// The index of the encoder a score picks: argmin or argmax, the first in
// the given order on ties (indices are in name order).
std::size_t pick(const std::vector<double>& score, const std::vector<std::size_t>& indices, Direction direction) {
  std::size_t best = indices.front();
  for (std::size_t index : indices) {
    const bool better = direction == Direction::kLowerIsBetter ? score[index] < score[best] : score[index] > score[best];
    if (better || (score[index] == score[best] && index < best)) best = index;
  }
  return best;
}

std::optional<double> relative_top1(const std::vector<double>& score, const std::vector<double>& accuracy,
                                    const std::vector<std::size_t>& indices, Direction direction) {
  double best_accuracy = accuracy[indices.front()];
  for (std::size_t index : indices) best_accuracy = std::max(best_accuracy, accuracy[index]);
  if (!(best_accuracy > 0)) return std::nullopt;
  return accuracy[pick(score, indices, direction)] / best_accuracy;
}

using Coefficient = std::optional<double> (*)(const std::vector<double>&, const std::vector<double>&);

Coefficient coefficient_of(Statistic statistic) {
  switch (statistic) {
    case Statistic::kPearson: return &pearson;
    case Statistic::kSpearman: return &spearman;
    case Statistic::kKendall: return &kendall_tau_b;
    case Statistic::kWeightedTau: return &weighted_tau;
    case Statistic::kRelativeTop1: break;
  }
  return nullptr;
}

CellResult analyse_cell(const std::vector<double>& score, const std::vector<double>& accuracy, Direction direction,
                        const CorrelateOptions& options, std::uint64_t group_seed) {
  CellResult cell;
  const std::size_t n = score.size();
  std::vector<std::size_t> all(n);
  for (std::size_t i = 0; i < n; ++i) all[i] = i;
  for (Statistic statistic : kAllStatistics) {
    ResampledStatistic compute;
    if (statistic == Statistic::kRelativeTop1) {
      compute = [&](const std::vector<std::size_t>& indices) {
        return relative_top1(score, accuracy, indices, direction);
      };
    } else {
      if (n < options.min_encoders) continue;
      const Coefficient coefficient = coefficient_of(statistic);
      compute = [&, coefficient](const std::vector<std::size_t>& indices) {
        std::vector<double> x(indices.size()), y(indices.size());
        for (std::size_t k = 0; k < indices.size(); ++k) {
          x[k] = score[indices[k]];
          y[k] = accuracy[indices[k]];
        }
        return coefficient(x, y);
      };
    }
    Estimate& estimate = cell[statistic];
    estimate.value = compute(all);
    // The same seed for every statistic and column of a group: paired resamples.
    if (estimate.value && options.bootstrap > 0)
      estimate.interval = bootstrap_interval(n, options.bootstrap, group_seed, options.level, compute);
  }
  return cell;
}

}  // namespace

Direction column_direction(const std::string& name, const std::vector<std::string>& lower_is_better) {
  if (kKnownLowerIsBetter.count(name) ||
      std::find(lower_is_better.begin(), lower_is_better.end(), name) != lower_is_better.end())
    return Direction::kLowerIsBetter;
  return Direction::kHigherIsBetter;
}

namespace {

// The score rows a report uses, keyed by (encoder, reference, target).
struct ScoreRow {
  Key key;
  std::vector<double> values;  // one per report column
};

// The columns of the score CSV the report is about: the given ones, or
// relatedness, its terms and every metrics_* baseline.
std::vector<std::size_t> select_columns(const CsvTable& scores, const CorrelateOptions& options,
                                        CorrelationReport& report) {
  std::vector<std::string> names = options.columns;
  if (names.empty()) {
    scores.column("relatedness");  // the automatic table is about relatedness: required
    for (const auto& name : kRelatednessColumns)
      if (scores.find_column(name)) names.push_back(name);
    for (const auto& name : scores.header)
      if (name.rfind("metrics_", 0) == 0) names.push_back(name);
  }
  std::vector<std::size_t> score_indices;
  for (const auto& name : names) {
    if (std::any_of(report.columns.begin(), report.columns.end(), [&](const ScoreColumn& c) { return c.name == name; }))
      continue;
    if (name == "encoder" || name == "reference" || name == "target" || name == "status" || name == "error")
      throw InputError(fmt::format("--columns: '{}' is a key column, not a score", name));
    score_indices.push_back(scores.column(name));
    report.columns.push_back({name, column_direction(name, options.lower_is_better)});
  }
  return score_indices;
}

// Accuracy by join key; InputError for duplicate keys and bad numbers.
std::map<Key, double> read_accuracy(const CsvTable& accuracy, bool join_on_reference) {
  const std::size_t a_encoder = accuracy.column("encoder");
  const std::size_t a_target = accuracy.column("target");
  const std::size_t a_accuracy = accuracy.column("accuracy");
  const auto a_reference = accuracy.find_column("reference");
  std::map<Key, double> accuracy_of;
  std::map<Key, std::size_t> accuracy_line;
  for (std::size_t r = 0; r < accuracy.rows.size(); ++r) {
    const auto& row = accuracy.rows[r];
    const Key key{row[a_encoder], join_on_reference ? row[*a_reference] : std::string(), row[a_target]};
    const double value = parse_number(accuracy, r, a_accuracy);
    if (!accuracy_line.emplace(key, accuracy.row_lines[r]).second)
      throw InputError(fmt::format("{}: line {}: duplicate key {} (first on line {})", accuracy.source,
                                   accuracy.row_lines[r], key_text(key, join_on_reference), accuracy_line[key]));
    accuracy_of[key] = value;
  }
  return accuracy_of;
}

// The ok rows of the scores with their values; every row's key is checked
// against the accuracy file (keys in one file only are an error), rows whose
// status is not ok are recorded in report.skipped_rows.
std::vector<ScoreRow> read_score_rows(const CsvTable& scores, const CsvTable& accuracy,
                                      const std::vector<std::size_t>& score_indices,
                                      const std::map<Key, double>& accuracy_of, bool join_on_reference,
                                      CorrelationReport& report) {
  const std::size_t s_encoder = scores.column("encoder");
  const std::size_t s_target = scores.column("target");
  const auto s_reference = scores.find_column("reference");
  const auto s_status = scores.find_column("status");
  const auto s_error = scores.find_column("error");
  std::vector<ScoreRow> used;
  std::set<Key> score_join_keys;
  std::map<Key, std::size_t> score_line;
  for (std::size_t r = 0; r < scores.rows.size(); ++r) {
    const auto& row = scores.rows[r];
    const Key key{row[s_encoder], s_reference ? row[*s_reference] : std::string(), row[s_target]};
    if (!score_line.emplace(key, scores.row_lines[r]).second)
      throw InputError(fmt::format("{}: line {}: duplicate key {} (first on line {})", scores.source,
                                   scores.row_lines[r], key_text(key, s_reference.has_value()), score_line[key]));
    const Key join_key{std::get<0>(key), join_on_reference ? std::get<1>(key) : std::string(), std::get<2>(key)};
    score_join_keys.insert(join_key);
    if (s_status && row[*s_status] != "ok") {
      report.skipped_rows.push_back(fmt::format("{} (status {}{}{})", key_text(key, s_reference.has_value()),
                                                row[*s_status], s_error ? ": " : "", s_error ? row[*s_error] : ""));
      continue;
    }
    ScoreRow score_row{key, {}};
    for (std::size_t c : score_indices) score_row.values.push_back(parse_number(scores, r, c));
    used.push_back(std::move(score_row));
  }
  std::vector<std::string> only_scores, only_accuracy;
  for (const auto& key : score_join_keys)
    if (!accuracy_of.count(key)) only_scores.push_back(key_text(key, join_on_reference));
  for (const auto& [key, value] : accuracy_of)
    if (!score_join_keys.count(key)) only_accuracy.push_back(key_text(key, join_on_reference));
  if (!only_scores.empty() || !only_accuracy.empty()) {
    std::string message = fmt::format("the keys of {} and {} do not match", scores.source, accuracy.source);
    if (!only_scores.empty())
      message += fmt::format("; {} key(s) in {} only: {}", only_scores.size(), scores.source, list_some(only_scores));
    if (!only_accuracy.empty())
      message += fmt::format("; {} key(s) in {} only: {}", only_accuracy.size(), accuracy.source,
                             list_some(only_accuracy));
    throw InputError(message);
  }
  return used;
}

// One group's cells: every statistic of every column across its encoders.
GroupResult analyse_group(std::vector<const ScoreRow*> rows, const std::pair<std::string, std::string>& group_key,
                          bool several_references, const std::map<Key, double>& accuracy_of, bool join_on_reference,
                          std::uint64_t group_seed, const CorrelateOptions& options, CorrelationReport& report,
                          const std::function<void(std::string)>& warn) {
  GroupResult group;
  group.reference = group_key.first;
  group.target = group_key.second;
  if (options.grouping == CorrelateOptions::Grouping::kNone) group.label = "all";
  else if (several_references) group.label = group.reference + "->" + group.target;
  else group.label = group.target;
  // Name order (then reference, target when pooled) makes ties and bootstrap draws reproducible.
  std::sort(rows.begin(), rows.end(), [](const ScoreRow* a, const ScoreRow* b) { return a->key < b->key; });
  for (const ScoreRow* row : rows) {
    const auto& [encoder, reference, target] = row->key;
    group.encoders.push_back(options.grouping == CorrelateOptions::Grouping::kNone
                                 ? fmt::format("{}/{}/{}", encoder, reference, target)
                                 : encoder);
    group.accuracy.push_back(accuracy_of.at(Key{encoder, join_on_reference ? reference : std::string(), target}));
  }
  if (rows.size() < options.min_encoders)
    warn(fmt::format("group {}: {} encoder(s), fewer than {}: correlations are n/a", group.label, rows.size(),
                     options.min_encoders));
  for (std::size_t c = 0; c < report.columns.size(); ++c) {
    std::vector<double> score(rows.size());
    for (std::size_t i = 0; i < rows.size(); ++i) score[i] = rows[i]->values[c];
    CellResult cell = analyse_cell(score, group.accuracy, report.columns[c].direction, options, group_seed);
    std::vector<std::size_t> all(rows.size());
    for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
    cell.selected_encoder = group.encoders[pick(score, all, report.columns[c].direction)];
    if (rows.size() >= options.min_encoders) {
      for (Statistic statistic : kAllStatistics) {
        if (statistic == Statistic::kRelativeTop1 || cell[statistic].value) continue;
        warn(fmt::format("group {}, column {}: {} is undefined (constant scores or accuracies): n/a", group.label,
                         report.columns[c].name, enum_name(statistic)));
      }
    }
    if (!cell[Statistic::kRelativeTop1].value)
      warn(fmt::format("group {}: best accuracy is not positive: relative top-1 of {} is n/a", group.label,
                       report.columns[c].name));
    group.cells.push_back(std::move(cell));
  }
  return group;
}

// The mean row over groups and its stratified bootstrap interval.
void add_mean_row(const CorrelateOptions& options, CorrelationReport& report) {
  for (std::size_t c = 0; c < report.columns.size(); ++c) {
    std::array<std::optional<double>, 5> mean;
    for (Statistic statistic : kAllStatistics) {
      double sum = 0;
      std::size_t count = 0;
      for (const auto& group : report.groups) {
        if (const auto& value = group.cells[c][statistic].value) {
          sum += *value;
          ++count;
        }
      }
      if (count > 0) mean[static_cast<int>(statistic)] = sum / static_cast<double>(count);
    }
    report.means.push_back(mean);

    std::array<BootstrapInterval, 5> intervals;
    for (Statistic statistic : kAllStatistics) {
      if (!mean[static_cast<int>(statistic)] || options.bootstrap == 0) continue;
      BootstrapInterval& interval = intervals[static_cast<int>(statistic)];
      std::vector<double> values;
      for (std::size_t b = 0; b < options.bootstrap; ++b) {
        double sum = 0;
        std::size_t count = 0;
        for (const auto& group : report.groups) {
          const Estimate& estimate = group.cells[c][statistic];
          if (!estimate.value || b >= estimate.interval.draws.size() || !estimate.interval.draws[b]) continue;
          sum += *estimate.interval.draws[b];
          ++count;
        }
        if (count > 0) values.push_back(sum / static_cast<double>(count));
        else ++interval.dropped;
      }
      set_percentile_interval(interval, values, options.level);
    }
    report.mean_intervals.push_back(intervals);
  }
}

}  // namespace

CorrelationReport correlate(const CsvTable& scores, const CsvTable& accuracy, const CorrelateOptions& options) {
  CorrelationReport report;
  report.scores_source = scores.source;
  report.accuracy_source = accuracy.source;
  report.options = options;
  auto warn = [&](std::string message) {
    spdlog::warn("{}", message);
    report.warnings.push_back(std::move(message));
  };
  scores.column("encoder");
  scores.column("target");
  const bool join_on_reference = accuracy.find_column("reference").has_value();
  if (join_on_reference && !scores.find_column("reference"))
    throw InputError(fmt::format("{} has a 'reference' column, so {} needs one too to join on it: missing column "
                                 "'reference'",
                                 accuracy.source, scores.source));
  const std::vector<std::size_t> score_indices = select_columns(scores, options, report);
  const std::map<Key, double> accuracy_of = read_accuracy(accuracy, join_on_reference);
  const std::vector<ScoreRow> used =
      read_score_rows(scores, accuracy, score_indices, accuracy_of, join_on_reference, report);
  for (const auto& skipped : report.skipped_rows) warn(fmt::format("{}: skipping the row of {}", scores.source, skipped));
  if (used.empty()) throw InputError(fmt::format("{}: no row with status ok", scores.source));

  std::set<std::string> references;
  for (const auto& row : used) references.insert(std::get<1>(row.key));
  std::map<std::pair<std::string, std::string>, std::vector<const ScoreRow*>> grouped;  // (reference, target)
  for (const auto& row : used) {
    const auto group_key = options.grouping == CorrelateOptions::Grouping::kByTarget
                               ? std::make_pair(std::get<1>(row.key), std::get<2>(row.key))
                               : std::make_pair(std::string(), std::string());
    grouped[group_key].push_back(&row);
  }
  std::uint64_t group_index = 0;
  for (auto& [group_key, rows] : grouped)
    report.groups.push_back(analyse_group(rows, group_key, references.size() > 1, accuracy_of, join_on_reference,
                                          mix_seed(options.seed, group_index++), options, report, warn));
  add_mean_row(options, report);
  return report;
}

}  // namespace taskrel::correlation
