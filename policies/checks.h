#pragma once
// The derived checks that plain per-event rules cannot express: they look at the run as a
// whole (a secret in outbound bytes, code that ran with no effect, a load that failed after
// calls, lost events, a timeout mid-payload, a fork flood, tampered phase markers).
#include <string>
#include <vector>

#include "policies/compiler.h"
#include "policies/timeline.h"

namespace modelvet::policy {

// A finding before dedupe and ordering.
struct RawFinding {
  Finding finding;
  uint64_t t_ns = 0;
  std::string summary;  // short phrase for the verdict sentence
};

struct CheckInput {
  const CompiledPolicy& policy;
  const Context& context;
  const Timeline& timeline;
  const std::vector<bool>& allowed;  // per timeline event: suppressed by the allow list
  const std::vector<RawFinding>& rule_findings;
  MatchEnv& env;
};

std::vector<RawFinding> run_checks(const CheckInput& in);

}  // namespace modelvet::policy
