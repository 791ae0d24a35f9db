#pragma once
// The "behavior" block of a result: what the loaded file made happen, condensed from the trace
// for a human (processes, network, DNS, files, decoys touched).
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "trace/event.h"

namespace modelvet {

struct BehaviorContext {
  std::string home = "/home/alice";
  std::set<std::string> decoy_files;   // jail paths
  uint64_t from_t_ns = 0;              // the start of the load phase: earlier is the harness's own setup
};

nlohmann::json summarize_behavior(const Events& events, const BehaviorContext& ctx);

// "/home/alice/.aws/credentials" → "~/.aws/credentials".
std::string tilde_path(const std::string& path, const std::string& home);

}  // namespace modelvet
