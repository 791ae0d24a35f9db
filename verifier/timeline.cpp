#include "verifier/timeline.h"

#include <fmt/core.h>

#include "verifier/behavior.h"

namespace modelvet {
namespace {

std::string join_argv(const nlohmann::json& argv) {
  std::string s;
  for (const auto& a : argv) s += (s.empty() ? "" : " ") + (a.is_string() ? a.get<std::string>() : a.dump());
  return s;
}

// What every Python process opens and maps: shown in no timeline.
bool is_system_path(const std::string& path) {
  for (const char* prefix : {"/usr/", "/lib/", "/lib64/", "/etc/", "/proc/self", "/proc/thread-self", "/sys/", "/dev/"})
    if (path.rfind(prefix, 0) == 0) return true;
  return false;
}

// One line per event worth a human's attention; the loader's own reads of system files are not.
std::string describe(const Event& e, const std::string& home) {
  const auto& d = e.data;
  if (e.source == kSourcePython) {
    if (e.kind == kinds::kPhase) return fmt::format("── phase {} ──", str_field(d, "name"));
    if (e.kind == kinds::kCall) return fmt::format("call {}({}) [{}]", str_field(d, "callable"), str_field(d, "args"), str_field(d, "origin"));
    if (e.kind == kinds::kLoad) return fmt::format("load {} {}", str_field(d, "status"), d.value("exception", str_field(d, "type")));
    if (e.kind == kinds::kStub) return fmt::format("stubbed missing {}.{}", str_field(d, "module"), str_field(d, "name"));
    return "";
  }
  if (e.source == kSourceNet) {
    if (e.kind == kinds::kDns) return fmt::format("dns query {} {}", str_field(d, "type"), str_field(d, "name"));
    return fmt::format("{} received {} bytes: {}", e.kind, d.value("sent_bytes", d.value("bytes", 0)),
                       d.value("sent_preview", str_field(d, "preview")));
  }
  if (e.kind == kinds::kExec) return fmt::format("exec {} (ppid {})", join_argv(d.value("argv", nlohmann::json::array())), d.value("ppid", 0));
  if (e.kind == kinds::kFork) return fmt::format("fork → pid {}", d.value("child_pid", 0));
  if (e.kind == kinds::kExit) return fmt::format("exit code {} signal {}", d.value("code", 0), d.value("signal", 0));
  if (e.kind == kinds::kConnect || e.kind == kinds::kSendto)
    return fmt::format("{} {} {}:{}", e.kind, str_field(d, "family"), d.value("addr", str_field(d, "path")), d.value("port", 0));
  if (e.kind == kinds::kOpen || e.kind == kinds::kMmapExec) {
    std::string path = str_field(d, "resolved", str_field(d, "path"));
    if (is_system_path(path)) return "";
    if (e.kind == kinds::kMmapExec) return fmt::format("maps executable memory {}", path.empty() ? "(anonymous)" : path);
    return fmt::format("open {} {}", tilde_path(path, home), str_field(d, "flags_str"));
  }
  if (e.kind == kinds::kDenied || e.kind == kinds::kSyscallAttempt) return fmt::format("{} {}", e.kind, str_field(d, "syscall"));
  if (e.kind == kinds::kWrite) return "";
  return fmt::format("{} {}", e.kind, d.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

}  // namespace

std::string render_timeline(const Trace& trace, const nlohmann::json& result) {
  const std::string& home = trace.header.context.home;
  uint64_t t0 = trace.events.empty() ? 0 : trace.events.front().t_ns;
  std::string out = fmt::format("timeline of {} ({} events)\n", str_field(result, "path"), trace.events.size());
  size_t shown = 0, setup_events = 0;
  bool in_setup = true;  // the harness starting and importing its libraries: summarised in one line
  for (const Event& e : trace.events) {
    bool phase_marker = e.source == kSourcePython && e.kind == kinds::kPhase;
    if (phase_marker && str_field(e.data, "name") != "setup") {
      if (in_setup && setup_events)
        out += fmt::format("  {:>11}  harness start-up and library imports: {} events (in the trace)\n", "", setup_events);
      in_setup = false;
    }
    if (in_setup && !phase_marker) {
      ++setup_events;
      continue;
    }
    std::string line = describe(e, home);
    if (line.empty()) continue;
    if (++shown > 500) {
      out += "  … (more events in the trace)\n";
      break;
    }
    out += fmt::format("  {:>8.1f} ms  {:<6} {:>6}  {}\n", (e.t_ns - t0) / 1e6, e.source, e.pid, line);
  }
  return out;
}

}  // namespace modelvet
