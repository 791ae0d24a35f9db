#pragma once
// The trace header: what was run and how, typed. It is the contract between the stage that
// detonates (verify) and the stage that judges (classify, also in replay): one to_json and one
// header_from_json, and the reader refuses a header that lacks a field the verdict depends on, or
// holds one it does not know there, so a typo can never turn a timed-out run into a quiet benign.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace modelvet {

inline constexpr int kTraceFormatVersion = 2;

// The file under test, as the report names it.
struct SampleInfo {
  std::string path;    // display name (hf://… in batch)
  std::string sha256;
  uint64_t size = 0;
  std::string format;  // sniffed from content
  std::string loader;  // the loader id the harness ran
};

struct RunTiming {
  int64_t total = 0, setup = 0, run = 0, teardown = 0;  // ms
};

// How the detonation went: everything classify needs besides the events.
struct RunOutcome {
  bool ran = false;                     // the harness ran inside a complete jail
  std::string error;                    // why the jail could not be set up (ran == false)
  bool timed_out = false;
  int timeout_ms = 0;
  std::vector<std::string> limits_hit;  // "timeout", "cpu", "memory", "pids", "fsize"
  int harness_exit = -1;                // exit code, -1 when ended by a signal
  std::string harness_end;              // "exit 0" | "signal 9"
  bool events_truncated = false;        // the harness reported more than the jail accepts
  uint64_t malformed_event_lines = 0;   // harness pipe lines that were not events
  uint64_t unattributed_sessions = 0;   // fake-network sessions whose socket was not identified
  bool clean_teardown = false;
  std::string output_tail;              // last 2000 bytes of the harness's stdout+stderr
  RunTiming timing_ms;
  std::string launch = "exec";          // "exec" (a fresh harness) or "zygote <loader>" (forked from one)
  // The jail's memory cgroup's peak charge: what this jail added beyond pages it shares with a
  // zygote (those stay charged to the zygote). 0: no memory cgroup (rootless, or none mounted).
  uint64_t memory_peak_bytes = 0;
};

struct TracerStats {
  std::string backend;                  // "ebpf" | "ptrace"
  uint64_t events = 0;
  uint64_t dropped = 0;                 // events the tracer lost
  nlohmann::json per_buffer = nlohmann::json::object();
};

// What the policy must know about the jail to read its events.
struct RunContext {
  int harness_pid = 0;                  // host pid of the harness: its own first exec is not a spawn
  int jail_init_pid = 0;
  std::string home;                     // the decoy home ("~" in globs)
  std::string model_path;               // the model's path inside the jail
  std::map<std::string, std::string> decoy_secrets;  // where planted → value
  std::vector<std::string> decoy_files;
  uint64_t exec_t_ns = 0;               // CLOCK_MONOTONIC when the harness was released
};

struct TraceHeader {
  int format = kTraceFormatVersion;
  SampleInfo sample;
  RunOutcome run;
  RunContext context;
  TracerStats tracer;
  // Descriptive blocks: shown in reports, never decided on, kept as they were written.
  nlohmann::json tool = nlohmann::json::object();
  nlohmann::json host = nlohmann::json::object();
  nlohmann::json policy = nlohmann::json::object();
  nlohmann::json sandbox = nlohmann::json::object();
  nlohmann::json static_scan = nlohmann::json::object();  // "static": the pre-scan report
};

nlohmann::json to_json(const TraceHeader& header);
nlohmann::json to_json(const SampleInfo& sample);
nlohmann::json to_json(const RunTiming& timing);
nlohmann::json to_json(const TracerStats& tracer);
// False with *error ("header: run: missing timed_out") when a required field is missing, has the
// wrong type, or an unknown field stands in a block the verdict depends on (sample, run, context,
// tracer).
bool header_from_json(const nlohmann::json& j, TraceHeader* header, std::string* error);

}  // namespace modelvet
