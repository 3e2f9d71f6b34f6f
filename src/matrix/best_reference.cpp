#include "matrix/best_reference.h"

#include <map>
#include <string>
#include <utility>

namespace taskrel::matrix {

std::vector<nlohmann::json> best_reference_records(const std::vector<nlohmann::json>& records) {
  std::vector<std::pair<std::string, std::string>> order;
  std::map<std::pair<std::string, std::string>, std::pair<const nlohmann::json*, int>> best;
  for (const auto& record : records) {
    if (record.value("status", std::string()) != "ok" || !record.contains("result")) continue;
    const std::string reference = record.at("reference").get<std::string>();
    const std::string target = record.at("target").get<std::string>();
    if (reference == target) continue;
    const auto key = std::make_pair(record.at("encoder").get<std::string>(), target);
    const double value = record["result"].at("relatedness").get<double>();
    auto found = best.find(key);
    if (found == best.end()) {
      order.push_back(key);
      best[key] = {&record, 1};
    } else {
      ++found->second.second;
      if (value < found->second.first->at("result").at("relatedness").get<double>()) found->second.first = &record;
    }
  }
  std::vector<nlohmann::json> out;
  for (const auto& key : order) {
    const auto& [record, compared] = best.at(key);
    nlohmann::json chosen = *record;
    chosen["result"]["best_reference"] = chosen["reference"];
    chosen["result"]["references_compared"] = compared;
    chosen["reference"] = "best";
    out.push_back(std::move(chosen));
  }
  return out;
}

}  // namespace taskrel::matrix
