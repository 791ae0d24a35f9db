#include "trace/event.h"
#include "verifier/report.h"

#include <fmt/core.h>

#include "policies/reports/reports.h"
#include "trace/bytes_text.h"

namespace modelvet {
namespace {

std::string evidence_line(const nlohmann::json& r) {
  // The kernel's and the fake network's observations are ground truth; Python-level hints and
  // whole-run checks come after them.
  const auto& findings = r.value("findings", nlohmann::json::array());
  for (const char* severity : {"malicious", "suspicious"})
    for (const char* source : {"kernel", "net", "python", "run"})
      for (const auto& f : findings)
        if (str_field(f, "severity") == severity && str_field(f, "source") == source) return str_field(f, "evidence");
  if (!findings.empty()) return str_field(findings[0], "evidence");
  if (str_field(r, "verdict") == "error") return str_field(r, "summary");
  std::string flagged;
  for (const auto& f : r.value("static", nlohmann::json::object()).value("flagged", nlohmann::json::array()))
    if (str_field(f, "severity") == "dangerous" && flagged.size() < 80)
      flagged += (flagged.empty() ? "" : ", ") + str_field(f, "global");
  if (!flagged.empty()) return "flagged statically: " + flagged + "; ran with no effect outside the load";
  const auto& calls = r.value("calls", nlohmann::json::array());
  if (!calls.empty()) {
    std::string list;
    for (size_t i = 0; i < calls.size() && i < 3; ++i) list += (i ? ", " : "") + str_field(calls[i], "callable");
    return "ran only " + list + (calls.size() > 3 ? ", …" : "") + " with no effect outside the load";
  }
  return str_field(r, "summary");
}

std::string colored(const std::string& verdict, bool color) {
  if (!color) return fmt::format("{:<10}", verdict);
  const char* code = verdict == "malicious" ? "1;31" : verdict == "suspicious" ? "1;33" : verdict == "benign" ? "32" : "1;35";
  return fmt::format("\033[{}m{:<10}\033[0m", code, verdict);
}

std::string shorten(const std::string& s, size_t n) {
  if (s.size() <= n) return s;
  return s.substr(0, n - 3) + "...";
}

}  // namespace

nlohmann::json make_document(const ReportMeta& meta, const std::vector<nlohmann::json>& results) {
  nlohmann::json summary = {{"files", results.size()}, {"malicious", 0}, {"suspicious", 0}, {"benign", 0}, {"error", 0}};
  for (const auto& r : results) {
    std::string v = str_field(r, "verdict", "error");
    summary[v] = summary.value(v, 0) + 1;
  }
  return {{"tool", {{"name", "modelvet"}, {"version", MODELVET_VERSION}}},
          {"host", meta.host},
          {"policy", {{"name", meta.policy_name}, {"sha256", meta.policy_sha256}}},
          {"results", results},
          {"summary", summary}};
}

int exit_code_for(const std::vector<nlohmann::json>& results) {
  bool bad = false, error = false;
  for (const auto& r : results) {
    std::string v = str_field(r, "verdict", "error");
    bad |= v == "malicious" || v == "suspicious";
    error |= v == "error";
  }
  return bad ? 1 : error ? 2 : 0;
}

std::string render_text(const nlohmann::json& doc, bool color) {
  std::string out;
  size_t width = 20;
  for (const auto& r : doc["results"]) width = std::max(width, std::min<size_t>(str_field(r, "path").size(), 48));
  out += fmt::format("{:<{}}  {:<10}  {:<22}  {}\n", "FILE", width, "VERDICT", "FORMAT/LOADER", "EVIDENCE");
  for (const auto& r : doc["results"]) {
    std::string fl = str_field(r, "format", "?") + "/" + (r.contains("loader") && r["loader"].is_string() ? r["loader"].get<std::string>() : "-");
    out += fmt::format("{:<{}}  {}  {:<22}  {}\n", shorten(str_field(r, "path"), 48), width,
                       colored(str_field(r, "verdict", "error"), color), shorten(fl, 22), shorten(evidence_line(r), 110));
  }
  const auto& s = doc["summary"];
  out += fmt::format("\n{} files: {} malicious, {} suspicious, {} benign, {} error\n", s.value("files", 0),
                     s.value("malicious", 0), s.value("suspicious", 0), s.value("benign", 0), s.value("error", 0));
  return out;
}

std::string render(const nlohmann::json& doc_in, const std::string& format, bool color) {
  // Untrusted bytes are bytes text where they entered (trace/bytes_text.h); whatever else is not
  // valid UTF-8 is escaped the same way here, so every format carries it and none throws.
  nlohmann::json doc = doc_in;
  escape_invalid_strings(doc);
  if (format == "text") return render_text(doc, color);
  if (format == "sarif") return reports::to_sarif(doc);
  if (format == "html") return reports::to_html(doc);
  return doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace modelvet
