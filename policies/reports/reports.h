#pragma once
// Report renderers for the JSON report document of SPEC.md: SARIF 2.1.0 for code-scanning
// dashboards, and one self-contained HTML page for humans. Every string from a report (paths,
// evidence, argv: all attacker-controlled) is escaped for its output format.
#include <string>

#include <nlohmann/json.hpp>

namespace modelvet::reports {

std::string to_sarif(const nlohmann::json& report);
std::string to_html(const nlohmann::json& report);

}  // namespace modelvet::reports
