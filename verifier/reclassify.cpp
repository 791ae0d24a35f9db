#include "verifier/reclassify.h"

#include <fmt/core.h>

#include "trace/event.h"

namespace modelvet {

std::string prior_stance(const nlohmann::json& prior) {
  if (!prior.is_object()) return "";
  if (prior.contains("flagged") && prior["flagged"].is_boolean()) return prior["flagged"].get<bool>() ? "flagged" : "clean";
  std::string scanner = str_field(prior, "scanner");
  if (scanner == "modelscan") return "flagged";  // modelscan reports name only files with an issue
  if (scanner == "picklescan") {
    std::string s = str_field(prior, "severity");
    return s == "dangerous" || s == "suspicious" ? "flagged" : s == "innocuous" ? "clean" : "";
  }
  std::string status = str_field(prior, "status");  // Hub securityFileStatus
  if (status == "unsafe" || status == "suspicious") return "flagged";
  if (status == "safe" || status == "innocuous") return "clean";
  return "";
}

std::string reclassification(const nlohmann::json& prior, const std::string& verdict) {
  std::string stance = prior_stance(prior);
  if (stance.empty()) return "";
  if (verdict == "error") return "failed";
  if (stance == "flagged") return verdict == "malicious" ? "confirmed" : verdict == "benign" ? "cleared" : "needs_human";
  return verdict == "malicious" ? "newly_found" : verdict == "suspicious" ? "newly_suspicious" : "unchanged";
}

void BatchSummary::add(const nlohmann::json& r) {
  ++files_;
  std::string verdict = str_field(r, "verdict", "error");
  ++verdicts_[verdict];
  if (r.value("cached", false)) ++cached_;
  if (r.contains("prior") && !r["prior"].is_null()) {
    ++with_prior_;
    std::string rc = reclassification(r["prior"], verdict);
    if (!rc.empty()) ++reclass_[rc];
  }
}

int BatchSummary::count(const std::string& verdict) const {
  auto it = verdicts_.find(verdict);
  return it == verdicts_.end() ? 0 : it->second;
}

nlohmann::json BatchSummary::to_json() const {
  nlohmann::json reclass = {{"with_prior", with_prior_}};
  for (const char* k : {"confirmed", "cleared", "needs_human", "newly_found", "newly_suspicious", "unchanged", "failed"}) {
    auto it = reclass_.find(k);
    reclass[k] = it == reclass_.end() ? 0 : it->second;
  }
  nlohmann::json skipped = nlohmann::json::object();
  for (const auto& [why, n] : skipped_) skipped[why] = n;
  nlohmann::json s = {{"files", files_},
                      {"malicious", count("malicious")},
                      {"suspicious", count("suspicious")},
                      {"benign", count("benign")},
                      {"error", count("error")},
                      {"cached", cached_},
                      {"detonated", detonated_},
                      {"skipped", skipped},
                      {"reclassification", reclass},
                      {"interrupted", interrupted_.empty() ? nlohmann::json(nullptr) : nlohmann::json(interrupted_)}};
  return s;
}

std::string BatchSummary::line() const {
  std::string s = fmt::format("{} files: {} malicious, {} suspicious, {} benign, {} error", files_, count("malicious"),
                              count("suspicious"), count("benign"), count("error"));
  std::string extra = fmt::format("{} detonated, {} cached", detonated_, cached_);
  for (const auto& [why, n] : skipped_)
    if (n)
      extra += fmt::format(", {} {}", n,
                           why == "non_model"      ? "non-model skipped"
                           : why == "other_shards" ? "in other shards"
                           : why == "resumed"      ? "already in the output"
                                                   : why);
  s += " (" + extra + ")";
  if (with_prior_) {
    auto n = [&](const char* k) {
      auto it = reclass_.find(k);
      return it == reclass_.end() ? 0 : it->second;
    };
    s += fmt::format("; prior: {} confirmed, {} cleared, {} needs_human, {} newly_found, {} failed", n("confirmed"),
                     n("cleared"), n("needs_human"), n("newly_found"), n("failed"));
  }
  if (!interrupted_.empty()) s += "; interrupted by " + interrupted_;
  return s;
}

}  // namespace modelvet
