// SARIF 2.1.0: one result per finding (level from its severity), a note for a benign file,
// and a tool execution notification for a file that could not be verified.
#include <fmt/core.h>

#include <map>

#include "policies/reports/reports.h"
#include "trace/bytes_text.h"

namespace modelvet::reports {
namespace {

using nlohmann::json;

std::string level_for(const std::string& severity) {
  if (severity == "malicious") return "error";
  if (severity == "suspicious") return "warning";
  return "note";
}

// A path as a URI reference: reserved and non-ASCII bytes percent-encoded, "/" kept. The report's
// path is bytes text (trace/bytes_text.h): the URI encodes the file name's exact bytes.
std::string uri_reference(const std::string& path_text) {
  std::string out;
  for (unsigned char c : unescape_bytes(path_text)) {
    if (std::isalnum(c) || std::string_view("-._~/:@!$&'()*+,;=").find(static_cast<char>(c)) != std::string_view::npos)
      out += static_cast<char>(c);
    else
      out += fmt::format("%{:02X}", c);
  }
  return out.empty() ? "unknown" : out;
}

// Reads that never throw on a report of unexpected shape.
std::string str(const json& obj, const char* key, const std::string& fallback = "") {
  auto it = obj.is_object() ? obj.find(key) : obj.end();
  return it != obj.end() && it->is_string() ? it->get<std::string>() : fallback;
}
json sub(const json& obj, const char* key, const json& fallback) {
  auto it = obj.is_object() ? obj.find(key) : obj.end();
  return it != obj.end() && (it->type() == fallback.type() || fallback.is_null()) ? *it : fallback;
}

json location(const json& result) {
  return json::array({{{"physicalLocation", {{"artifactLocation", {{"uri", uri_reference(str(result, "path"))}}}}}}});
}


// The rules table, one entry per rule id any finding cites (plus the verdict rules).
class RuleTable {
 public:
  size_t index(const std::string& id, const std::string& description, const std::string& attack, const std::string& severity) {
    auto it = index_.find(id);
    if (it != index_.end()) return it->second;
    json rule = {{"id", id}, {"name", id}, {"shortDescription", {{"text", description.empty() ? id : description}}},
                 {"defaultConfiguration", {{"level", level_for(severity)}}}};
    json tags = json::array({"security"});
    if (!attack.empty()) {
      tags.push_back("external/mitre-attack/" + attack);
      rule["helpUri"] = "https://attack.mitre.org/techniques/" + attack_path(attack) + "/";
    }
    rule["properties"] = {{"tags", tags}};
    rules_.push_back(rule);
    return index_[id] = rules_.size() - 1;
  }
  const json& rules() const { return rules_; }

 private:
  static std::string attack_path(std::string id) {
    for (char& c : id)
      if (c == '.') c = '/';
    return id;
  }
  std::map<std::string, size_t> index_;
  json rules_ = json::array();
};

}  // namespace

std::string to_sarif(const json& report) {
  RuleTable rules;
  json results = json::array();
  json notifications = json::array();
  const json tool = sub(report, "tool", json::object());
  for (const auto& r : sub(report, "results", json::array())) {
    std::string verdict = str(r, "verdict");
    json props = {{"verdict", verdict}, {"score", sub(r, "score", nullptr)}, {"summary", str(r, "summary")},
                  {"sha256", str(r, "sha256")}, {"format", str(r, "format")}};
    if (verdict == "error" || verdict.empty()) {
      notifications.push_back({{"level", "error"},
                               {"message", {{"text", fmt::format("{}: {}", str(r, "path"), str(r, "summary").empty() ? "no verdict" : str(r, "summary"))}}},
                               {"locations", location(r)}});
      continue;
    }
    const json findings = sub(r, "findings", json::array());
    if (findings.empty()) {
      size_t idx = rules.index("modelvet." + verdict, "modelvet verdict: " + verdict, "", verdict == "benign" ? "info" : verdict);
      results.push_back({{"ruleId", "modelvet." + verdict}, {"ruleIndex", idx}, {"level", level_for(verdict == "benign" ? "info" : verdict)},
                         {"message", {{"text", fmt::format("{}: {}", verdict, str(r, "summary"))}}},
                         {"locations", location(r)}, {"properties", props}});
      continue;
    }
    for (const auto& f : findings) {
      std::string rule = str(f, "rule").empty() ? "modelvet.finding" : str(f, "rule");
      size_t idx = rules.index(rule, "", str(f, "attack"), str(f, "severity"));
      json result = {{"ruleId", rule}, {"ruleIndex", idx}, {"level", level_for(str(f, "severity"))},
                     {"message", {{"text", fmt::format("{} ({} at {} ms, {}): {}", str(f, "evidence"), verdict,
                                                       sub(f, "t_ms", nullptr).dump(), str(f, "phase").empty() ? "run" : str(f, "phase"),
                                                       str(r, "summary"))}}},
                     {"locations", location(r)}, {"properties", props}};
      if (!str(r, "sha256").empty()) result["partialFingerprints"] = {{"modelvetSample/v1", str(r, "sha256") + ":" + rule}};
      results.push_back(result);
    }
  }
  json run = {{"tool", {{"driver", {{"name", str(tool, "name", "modelvet")}, {"version", str(tool, "version", "0")},
                                    {"informationUri", "https://github.com/modelvet/modelvet"},
                                    {"rules", rules.rules()}}}}},
              {"invocations", {{{"executionSuccessful", notifications.empty()}, {"toolExecutionNotifications", notifications}}}},
              {"results", results}};
  if (report.contains("policy")) run["properties"] = {{"policy", report["policy"]}};
  json sarif = {{"$schema", "https://json.schemastore.org/sarif-2.1.0.json"}, {"version", "2.1.0"}, {"runs", {run}}};
  return sarif.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace modelvet::reports
