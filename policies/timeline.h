#pragma once
// Orders a trace's events, splits it into phases at the harness's "phase" markers and gives
// each event the view rules match against (data + source/kind/pid/phase + derived fields).
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "policies/policy.h"

namespace modelvet::policy {

inline constexpr const char* kPhaseSetup = "setup";

struct TimedEvent {
  const Event* event = nullptr;
  std::string phase;
  uint64_t t_ms = 0;  // since the first event
  nlohmann::json view;
};

struct Timeline {
  std::vector<TimedEvent> events;  // total order: t_ns, then content, so input order never matters
  std::vector<TimedEvent> ignored_markers;  // phase markers that went backwards or named no phase
  bool has_markers = false;
};

Timeline build_timeline(const Events& events, const Context& context);

// "~/x" and "$HOME/x" → the home; relative paths are taken from the scratch directory (the
// harness's working directory); "." and ".." are resolved lexically.
std::string normalize_path(const std::string& path, const Context& context);
// A string field of an event, or fallback when absent or of another type (events from the jail
// are hostile: a forged {"name": 5} must not throw).
std::string string_field(const nlohmann::json& obj, const char* key, const std::string& fallback = "");
// Paths under the home are shown as "~/…".
std::string display_path(const std::string& path, const std::string& home);

}  // namespace modelvet::policy
