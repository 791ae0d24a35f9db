#pragma once
// The report document of SPEC.md and its renderings. One document per run, whatever the format.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace modelvet {

struct ReportMeta {
  nlohmann::json host;           // host_info()
  std::string policy_name, policy_sha256;
};

nlohmann::json make_document(const ReportMeta& meta, const std::vector<nlohmann::json>& results);
// SPEC exit codes: 1 if any malicious/suspicious, else 2 if any error, else 0.
int exit_code_for(const std::vector<nlohmann::json>& results);

// Formats: "json", "text", "sarif", "html". Unknown formats are rejected by the CLI.
std::string render(const nlohmann::json& document, const std::string& format, bool color);

// The text table: one line per file with verdict, format/loader and one line of evidence.
std::string render_text(const nlohmann::json& document, bool color);

}  // namespace modelvet
