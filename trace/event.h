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

// Every event kind a trace may hold, by source. Producers and consumers spell kinds through these
// names, so a typo is a compile error; is_known_kind() rejects anything else when a trace is read.
namespace kinds {
// kernel (tracer/record_decoder.cpp; limit from the jail's outcome)
inline constexpr const char* kExec = "exec";
inline constexpr const char* kFork = "fork";
inline constexpr const char* kExit = "exit";
inline constexpr const char* kOpen = "open";
inline constexpr const char* kUnlink = "unlink";
inline constexpr const char* kRename = "rename";
inline constexpr const char* kLink = "link";
inline constexpr const char* kMkdir = "mkdir";
inline constexpr const char* kChmod = "chmod";
inline constexpr const char* kWrite = "write";
inline constexpr const char* kSocket = "socket";
inline constexpr const char* kConnect = "connect";
inline constexpr const char* kBind = "bind";
inline constexpr const char* kSendto = "sendto";
inline constexpr const char* kListen = "listen";
inline constexpr const char* kNetRedirect = "net_redirect";
inline constexpr const char* kMmapExec = "mmap_exec";
inline constexpr const char* kMemfdCreate = "memfd_create";
inline constexpr const char* kPtrace = "ptrace";
inline constexpr const char* kKill = "kill";
inline constexpr const char* kSyscallAttempt = "syscall_attempt";
inline constexpr const char* kDenied = "denied";
inline constexpr const char* kLimit = "limit";
// python (harness/, over the event pipe)
inline constexpr const char* kPhase = "phase";
inline constexpr const char* kCall = "call";
inline constexpr const char* kAudit = "audit";
inline constexpr const char* kStub = "stub";
inline constexpr const char* kLoad = "load";
inline constexpr const char* kExercise = "exercise";
inline constexpr const char* kTimeWarp = "time_warp";
inline constexpr const char* kHarnessError = "harness_error";
inline constexpr const char* kTamper = "tamper";  // in-memory change of the model or a library (harness/_mv_tamper.py)
// net (sandbox/fake_net.cpp)
inline constexpr const char* kTcpConnect = "tcp_connect";
inline constexpr const char* kHttp = "http";
inline constexpr const char* kDns = "dns";
inline constexpr const char* kUdp = "udp";
}  // namespace kinds

// True for the sources above and, per source, the kinds listed in `kinds`.
bool is_known_source(const std::string& source);
bool is_known_kind(const std::string& source, const std::string& kind);

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

// Lenient: missing fields take defaults. Traces read from disk go through read_event() instead.
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

// Strict: t_ns, source, kind and pid must be present with their types, and the kind known for its
// source. False with *error naming what is wrong.
bool read_event(const nlohmann::json& j, Event* event, std::string* error);

// Reads a string field that may be absent, null, or (from a hostile or older source) not a
// string at all; nlohmann's value() throws on a present-but-null key.
inline std::string str_field(const nlohmann::json& j, const char* key, const std::string& fallback = "") {
  if (!j.is_object()) return fallback;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  return it->is_string() ? it->get<std::string>() : it->dump();
}

}  // namespace modelvet
