// The three output formats of a correlation report (correlate.h): JSON with
// everything, the paper-shaped text table of one statistic, long-format CSV.
#include "correlation/correlate.h"

#include <algorithm>

#include <fmt/format.h>

namespace taskrel::correlation {

namespace {

nlohmann::json optional_json(const std::optional<double>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

}  // namespace

nlohmann::json report_json(const CorrelationReport& report) {
  nlohmann::json j;
  j["scores"] = report.scores_source;
  j["accuracy"] = report.accuracy_source;
  j["by"] = enum_name(report.options.grouping);
  j["bootstrap"] = report.options.bootstrap;
  j["seed"] = report.options.seed;
  j["confidence"] = report.options.level;
  j["min_encoders"] = report.options.min_encoders;
  j["columns"] = nlohmann::json::array();
  for (const auto& column : report.columns)
    j["columns"].push_back({{"name", column.name},
                            {"direction", column.direction == Direction::kLowerIsBetter ? "lower" : "higher"},
                            {"expected_sign", column.direction == Direction::kLowerIsBetter ? "negative" : "positive"}});
  j["skipped_rows"] = report.skipped_rows;
  j["warnings"] = report.warnings;
  j["groups"] = nlohmann::json::array();
  for (const auto& group : report.groups) {
    nlohmann::json g = {{"label", group.label},
                        {"reference", group.reference},
                        {"target", group.target},
                        {"n_encoders", group.encoders.size()},
                        {"encoders", group.encoders},
                        {"accuracy", group.accuracy}};
    for (std::size_t c = 0; c < report.columns.size(); ++c) {
      const CellResult& cell = group.cells[c];
      nlohmann::json stats;
      for (Statistic statistic : kAllStatistics) {
        const Estimate& estimate = cell[statistic];
        stats[enum_name(statistic)] = {
            {"value", optional_json(estimate.value)},
            {"ci", {optional_json(estimate.interval.lower), optional_json(estimate.interval.upper)}},
            {"bootstrap_used", estimate.interval.used},
            {"bootstrap_dropped", estimate.interval.dropped}};
      }
      stats["selected_encoder"] = cell.selected_encoder ? nlohmann::json(*cell.selected_encoder) : nlohmann::json();
      g["columns"][report.columns[c].name] = stats;
    }
    j["groups"].push_back(g);
  }
  nlohmann::json mean = nlohmann::json::object();
  for (std::size_t c = 0; c < report.columns.size(); ++c)
    for (Statistic statistic : kAllStatistics)
      mean[report.columns[c].name][enum_name(statistic)] =
          optional_json(report.means[c][static_cast<int>(statistic)]);
  j["mean"] = mean;
  // The mean's bootstrap interval: {column: {statistic: [lower, upper]}} (null where undefined).
  nlohmann::json mean_ci = nlohmann::json::object();
  for (std::size_t c = 0; c < report.columns.size(); ++c)
    for (Statistic statistic : kAllStatistics) {
      const BootstrapInterval& interval = report.mean_intervals[c][static_cast<int>(statistic)];
      mean_ci[report.columns[c].name][enum_name(statistic)] = {optional_json(interval.lower),
                                                                     optional_json(interval.upper)};
    }
  j["mean_ci"] = mean_ci;
  return j;
}

namespace {

// "0.123", with " [lo,hi]" when asked and defined; "n/a" when undefined.
std::string estimate_text(const Estimate& estimate, bool show_intervals) {
  if (!estimate.value) return "n/a";
  std::string text = fmt::format("{:.3f}", *estimate.value);
  if (show_intervals && estimate.interval.lower)
    text += fmt::format(" [{:.2f},{:.2f}]", *estimate.interval.lower, *estimate.interval.upper);
  return text;
}

// The mean over groups of column `c`, with its bootstrap interval.
Estimate mean_estimate(const CorrelationReport& report, std::size_t c, Statistic statistic) {
  return Estimate{report.means[c][static_cast<int>(statistic)], report.mean_intervals[c][static_cast<int>(statistic)]};
}

std::string statistic_heading(Statistic statistic) {
  if (statistic == Statistic::kRelativeTop1)
    return "relative top-1: accuracy of the encoder each score picks / best accuracy in the group (1 = best)";
  return fmt::format("{}: correlation of each score with fine-tuning accuracy across encoders, per target\n"
                     "(a good lower=better score such as relatedness gives r < 0, a good higher=better one r > 0)",
                     enum_name(statistic));
}

}  // namespace

std::string report_table(const CorrelationReport& report, Statistic statistic, bool show_intervals) {
  auto cell_text = [&](const Estimate& estimate) { return estimate_text(estimate, show_intervals); };
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"target"});
  rows.push_back({""});
  for (const auto& column : report.columns) {
    rows[0].push_back(column.name);
    rows[1].push_back(column.direction == Direction::kLowerIsBetter ? "lower=better" : "higher=better");
  }
  for (const auto& group : report.groups) {
    std::vector<std::string> row = {fmt::format("{} (n={})", group.label, group.encoders.size())};
    for (const auto& cell : group.cells) row.push_back(cell_text(cell[statistic]));
    rows.push_back(std::move(row));
  }
  std::vector<std::string> mean_row = {"mean"};
  for (std::size_t c = 0; c < report.means.size(); ++c)
    mean_row.push_back(cell_text(mean_estimate(report, c, statistic)));
  rows.push_back(std::move(mean_row));

  std::vector<std::size_t> width(rows[0].size(), 0);
  for (const auto& row : rows)
    for (std::size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  std::string out = statistic_heading(statistic) + "\n";
  for (std::size_t r = 0; r < rows.size(); ++r) {
    if (r + 1 == rows.size()) {
      std::size_t total = 0;
      for (std::size_t w : width) total += w + 2;
      out += std::string(total - 2, '-') + "\n";
    }
    for (std::size_t c = 0; c < rows[r].size(); ++c) {
      if (c == 0) out += fmt::format("{:<{}}", rows[r][c], width[c]);
      else out += fmt::format("  {:>{}}", rows[r][c], width[c]);
    }
    out += "\n";
    if (r == 1) {
      std::size_t total = 0;
      for (std::size_t w : width) total += w + 2;
      out += std::string(total - 2, '-') + "\n";
    }
  }
  return out;
}

std::string report_table_by_method(const CorrelationReport& report, Statistic statistic, bool show_intervals,
                                   std::size_t max_width) {
  auto cell_text = [&](const Estimate& estimate) { return estimate_text(estimate, show_intervals); };
  // Value columns: the mean first, then one per group; two header lines each.
  struct ValueColumn {
    std::string name, count;
    std::vector<std::string> cells;  // one per method
  };
  std::vector<ValueColumn> values;
  {
    ValueColumn mean{"mean", fmt::format("{} groups", report.groups.size()), {}};
    for (std::size_t c = 0; c < report.means.size(); ++c)
      mean.cells.push_back(cell_text(mean_estimate(report, c, statistic)));
    values.push_back(std::move(mean));
  }
  for (const auto& group : report.groups) {
    ValueColumn column{group.label, fmt::format("n={}", group.encoders.size()), {}};
    for (const auto& cell : group.cells) column.cells.push_back(cell_text(cell[statistic]));
    values.push_back(std::move(column));
  }
  // The fixed left part: method and its direction.
  std::size_t method_width = std::string("score").size();
  for (const auto& column : report.columns) method_width = std::max(method_width, column.name.size());
  const std::size_t direction_width = std::string("higher").size();
  const std::size_t fixed = method_width + 2 + direction_width;
  std::vector<std::size_t> width;
  for (const auto& column : values) {
    std::size_t w = std::max(column.name.size(), column.count.size());
    for (const auto& cell : column.cells) w = std::max(w, cell.size());
    width.push_back(w);
  }

  std::string out = statistic_heading(statistic) + "\n";
  // As many value columns per block as fit in max_width; further blocks
  // repeat the method column, so no line is wider than max_width (unless one
  // column alone is).
  for (std::size_t first = 0; first < values.size();) {
    std::size_t last = first, used = fixed;
    while (last < values.size() && (last == first || used + 2 + width[last] <= max_width)) used += 2 + width[last++];
    if (first > 0) out += "\n";
    auto line = [&](const std::string& method, const std::string& direction, auto&& text_of) {
      std::string text = fmt::format("{:<{}}  {:<{}}", method, method_width, direction, direction_width);
      for (std::size_t v = first; v < last; ++v) text += fmt::format("  {:>{}}", text_of(values[v]), width[v]);
      while (!text.empty() && text.back() == ' ') text.pop_back();
      out += text + "\n";
    };
    line("score", "better", [](const ValueColumn& v) { return v.name; });
    line("", "", [](const ValueColumn& v) { return v.count; });
    out += std::string(used, '-') + "\n";
    for (std::size_t m = 0; m < report.columns.size(); ++m) {
      const bool lower = report.columns[m].direction == Direction::kLowerIsBetter;
      line(report.columns[m].name, lower ? "lower" : "higher", [m](const ValueColumn& v) { return v.cells[m]; });
    }
    first = last;
  }
  return out;
}

std::string report_csv(const CorrelationReport& report) {
  auto field = [](const std::string& text) {
    if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
    std::string quoted = "\"";
    for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
    return quoted + "\"";
  };
  auto number = [](const std::optional<double>& value) { return value ? fmt::format("{:.17g}", *value) : std::string(); };
  std::string out = "group,reference,target,column,direction,statistic,value,ci_lower,ci_upper,n_encoders\n";
  for (const auto& group : report.groups) {
    for (std::size_t c = 0; c < report.columns.size(); ++c) {
      const auto& column = report.columns[c];
      for (Statistic statistic : kAllStatistics) {
        const Estimate& estimate = group.cells[c][statistic];
        out += fmt::format("{},{},{},{},{},{},{},{},{},{}\n", field(group.label), field(group.reference),
                           field(group.target), field(column.name),
                           column.direction == Direction::kLowerIsBetter ? "lower" : "higher",
                           enum_name(statistic), number(estimate.value), number(estimate.interval.lower),
                           number(estimate.interval.upper), group.encoders.size());
      }
    }
  }
  for (std::size_t c = 0; c < report.columns.size(); ++c)
    for (Statistic statistic : kAllStatistics)
      out += fmt::format("mean,,,{},{},{},{},{},{},\n", field(report.columns[c].name),
                         report.columns[c].direction == Direction::kLowerIsBetter ? "lower" : "higher",
                         enum_name(statistic), number(report.means[c][static_cast<int>(statistic)]),
                         number(report.mean_intervals[c][static_cast<int>(statistic)].lower),
                         number(report.mean_intervals[c][static_cast<int>(statistic)].upper));
  return out;
}

}  // namespace taskrel::correlation
