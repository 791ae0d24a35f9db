#pragma once
// Policy document → compiled rules. One pass both validates (every problem becomes a LintIssue
// with its JSON pointer) and builds the matchers, so lint and the engine cannot disagree.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "policies/matcher.h"
#include "policies/policy.h"

namespace modelvet::policy {

struct Rule {
  std::string id, description, severity, attack;
  std::string explain;  // evidence template, "{field}" placeholders
  std::string summary;  // short phrase for the verdict sentence; defaults to explain
  EventMatcher match;
};

struct AllowRule {
  std::string id, description;
  EventMatcher match;
};

// A derived check: a named test beside the plain rules (checks.h runs them).
struct CheckConfig {
  bool enabled = true;
  std::string severity = "suspicious";
  std::string attack;
};

struct OutboundChannel {
  EventMatcher match;               // which events carry outbound bytes
  std::vector<std::string> fields;  // where the bytes are
  std::string to;                   // template naming the destination
};

struct Checks {
  CheckConfig harness_exec{true, "info", ""};
  CheckConfig exfiltration{true, "malicious", "T1041"};
  std::vector<OutboundChannel> outbound;
  size_t min_secret_length = 8;
  CheckConfig dynamic_code{true, "suspicious", "T1027"};
  std::optional<EventMatcher> dynamic_code_match;  // the check needs the policy to say what counts
  CheckConfig load_failed{true, "suspicious", ""};
  std::vector<ValueMatcher> benign_callables;  // globs
  CheckConfig events_lost{true, "suspicious", ""};
  CheckConfig timeout_mid_payload{true, "suspicious", "T1497"};
  CheckConfig fork_flood{true, "suspicious", "T1499"};
  int fork_flood_threshold = 32;
  std::string fork_flood_with_limit_severity = "malicious";
  std::vector<std::string> fork_flood_limits = {"pids", "memory", "cpu"};
  CheckConfig phase_order{true, "suspicious", "T1562"};
  // Cause attribution (attribution.h): library-caused events become context; severity is the
  // note's when the harness's cause markers do not add up (then every event is the file's).
  CheckConfig attribution{true, "info", ""};
};

struct CompiledPolicy {
  std::vector<AllowRule> allow;
  std::vector<Rule> rules;
  Checks checks;
  std::map<std::string, int> score = {{"malicious", 100}, {"suspicious", 50}, {"info", 0}};
  std::vector<std::string> decoy_files;  // may start with "~"
  std::vector<std::string> decoy_env;
};

// Compiles doc; every problem is appended to *issues (the result is unusable if any).
CompiledPolicy compile_policy(const nlohmann::json& doc, std::vector<LintIssue>* issues);

// Severities in increasing order of weight.
int severity_rank(const std::string& severity);

}  // namespace modelvet::policy
