#pragma once
// The one event model shared by every source of evidence. A trace file is a header line
// followed by these events, one JSON object per line, ordered by t_ns.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace modelvet {

// Where an event was observed. The kernel trace is ground truth; python events are hints
// from inside the jail (a payload could add fake ones, never remove kernel ones).
inline constexpr const char* kSourceKernel = "kernel";
inline constexpr const char* kSourcePython = "python";
inline constexpr const char* kSourceNet = "net";

struct Event {
  uint64_t t_ns = 0;      // CLOCK_MONOTONIC for every source (bpf_ktime_get_ns uses it too)
  std::string source;     // kSourceKernel | kSourcePython | kSourceNet
  std::string kind;       // e.g. "exec", "open", "connect", "call", "phase"; see README "Trace events"
  int pid = 0;            // host tgid for kernel events, the jail's pid for python events
  nlohmann::json data = nlohmann::json::object();  // kind-specific fields
};

using Events = std::vector<Event>;

// One trace line: {"t_ns":…, "source":…, "kind":…, "pid":…, <data fields>}.
inline nlohmann::json to_json(const Event& e) {
  nlohmann::json j = e.data.is_object() ? e.data : nlohmann::json::object();
  j["t_ns"] = e.t_ns;
  j["source"] = e.source;
  j["kind"] = e.kind;
  j["pid"] = e.pid;
  return j;
}

inline Event event_from_json(const nlohmann::json& j) {
  Event e;
  e.t_ns = j.value("t_ns", uint64_t{0});
  e.source = j.value("source", "");
  e.kind = j.value("kind", "");
  e.pid = j.value("pid", 0);
  e.data = j;
  for (const char* k : {"t_ns", "source", "kind", "pid"}) e.data.erase(k);
  return e;
}

// Reads a string field that may be absent, null, or (from a hostile or older source) not a
// string at all; nlohmann's value() throws on a present-but-null key.
inline std::string str_field(const nlohmann::json& j, const char* key, const std::string& fallback = "") {
  if (!j.is_object()) return fallback;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  return it->is_string() ? it->get<std::string>() : it->dump();
}

}  // namespace modelvet
