#include "verifier/verify.h"

#include <sys/utsname.h>

#include <chrono>
#include <filesystem>
#include <map>

#include <fmt/core.h>

#include "prescan/prescan.h"
#include "sandbox/jail.h"
#include "sandbox/rootfs.h"
#include "sandbox/seccomp_filter.h"
#include "tracer/tracer.h"
#include "verifier/observer.h"
#include "verifier/classify.h"
#include "verifier/file_info.h"

namespace modelvet {
namespace fs = std::filesystem;
namespace {

std::string kernel_release() {
  utsname u{};
  uname(&u);
  return u.release;
}

Events parse_python_events(const std::vector<std::string>& lines, size_t* malformed) {
  Events events;
  for (const auto& line : lines) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      ++*malformed;
      continue;
    }
    Event e = event_from_json(j);
    e.source = kSourcePython;  // whatever the line claims: it came through the harness pipe
    events.push_back(std::move(e));
  }
  return events;
}

// Kernel events from before the harness was released are the jail building itself.
void drop_setup_events(Events& events, uint64_t exec_t_ns) {
  std::erase_if(events, [&](const Event& e) { return e.source == kSourceKernel && e.t_ns < exec_t_ns; });
}

nlohmann::json sandbox_settings(const sandbox::Limits& l) {
  nlohmann::json namespaces = {"pid", "mnt", "net", "ipc", "uts", "cgroup"};
  if (sandbox::rootless_jails()) namespaces.push_back("user");
  return {{"namespaces", namespaces},
          {"isolation", sandbox::isolation_label()},
          {"seccomp_denied", sandbox::SeccompProgram::denied_syscalls()},
          {"limits", {{"address_space", l.address_space}, {"memory", l.memory}, {"cpu_seconds", l.cpu_seconds},
                      {"processes", l.processes}, {"open_files", l.open_files}, {"file_size", l.file_size},
                      {"scratch_bytes", l.scratch_bytes}}}};
}

// The fake network sees steered traffic arrive on its own ports; the cgroup hook saw where it
// was meant to go. Both keep connection order per protocol, so the n-th TCP session the fake
// network accepted is the n-th steered TCP connect (likewise UDP). The intended destination is
// written onto the network event (its listener port kept as local_port).
void attribute_destinations(Events& events) {
  std::map<std::string, std::vector<const Event*>> steered;  // proto → net_redirect events in order
  for (const Event& e : events)
    if (e.source == kSourceKernel && e.kind == "net_redirect" && e.data.value("redirected", false))
      steered[str_field(e.data, "proto")].push_back(&e);
  std::map<std::string, size_t> next;
  for (Event& e : events) {
    if (e.source != kSourceNet) continue;
    std::string proto = (e.kind == "udp" || e.kind == "dns") ? "udp" : "tcp";
    auto& list = steered[proto];
    size_t& i = next[proto];
    if (i >= list.size()) continue;
    const Event* r = list[i++];
    if (e.data.contains("port")) e.data["local_port"] = e.data["port"];
    e.data["dst"] = str_field(r->data, "orig_addr");
    e.data["port"] = r->data.value("orig_port", 0);
  }
}

}  // namespace

nlohmann::json host_info(const Observer* observer) {
  return {{"kernel", kernel_release()},
          {"tracer", observer ? observer->backend() : "none"},
          {"sandbox", sandbox::isolation_label()}};
}

Verifier::Verifier(policy::Policy policy, Observer* observer, std::string observer_error)
    : policy_(std::move(policy)), observer_(observer), observer_error_(std::move(observer_error)) {}

nlohmann::json Verifier::verify(const std::string& path, const VerifyOptions& opt, int slot) const {
  auto t0 = std::chrono::steady_clock::now();
  FileInfo info = inspect_file(path);
  nlohmann::json sample = {{"path", opt.display_path.empty() ? path : opt.display_path},
                           {"sha256", info.sha256}, {"size", info.size}};
  if (!info.error.empty()) return error_result(sample, info.error);

  prescan::Report report = prescan::prescan_file(path);
  sample["format"] = report.sniff.format;
  std::string loader = opt.loader == "auto" ? report.sniff.loader : opt.loader;
  // A victim unpacks a 7z-wrapped checkpoint before loading it: the harness's 7z loader does both.
  if (opt.loader == "auto" && report.sniff.format == "7z" && !loader.empty()) loader = "7z";
  sample["loader"] = loader;
  if (loader.empty())
    return error_result(sample, fmt::format("unsupported format '{}': no loader would open it", report.sniff.format));
  if (!observer_) return error_result(sample, "tracer unavailable, refusing to detonate unobserved: " + observer_error_);

  sandbox::JailConfig jail;
  jail.model_path = path;
  jail.limits = opt.limits;
  jail.timeout_ms = opt.timeout_s * 1000;
  jail.slot = slot;
  jail.harness_args = {"__harness", "--file", "{model}", "--loader", loader, "--format", report.sniff.format,
                       "--event-fd", "3", "--grace-ms", std::to_string(opt.grace_ms)};

  std::unique_ptr<Observation> observation;
  sandbox::JailOutcome out = sandbox::run_jail(jail, [&](const sandbox::JailHandle& h, std::string* error) {
    observation = observer_->watch(h, error);
    return observation != nullptr;
  });

  Trace trace;
  tracer::Stats stats;
  if (observation) {
    trace.events = observation->finish();
    stats = observation->stats();
  }
  drop_setup_events(trace.events, out.exec_t_ns);
  size_t malformed = 0;
  for (Event& e : parse_python_events(out.event_lines, &malformed)) trace.events.push_back(std::move(e));
  for (Event& e : out.net_events) trace.events.push_back(std::move(e));
  // Python turns an address-space limit into MemoryError rather than a kill: still a limit hit.
  for (const Event& e : trace.events)
    if (e.source == kSourcePython && e.kind == "load" && str_field(e.data, "exception").rfind("MemoryError", 0) == 0 &&
        std::find(out.limits_hit.begin(), out.limits_hit.end(), "memory") == out.limits_hit.end())
      out.limits_hit.push_back("memory");
  for (const std::string& limit : out.limits_hit) {
    Event e;
    e.t_ns = out.exec_t_ns + uint64_t(out.run_ms * 1e6);
    e.source = kSourceKernel;
    e.kind = "limit";
    e.pid = out.handle.init_pid;
    e.data = {{"resource", limit}};
    trace.events.push_back(std::move(e));
  }
  sort_events(trace.events);
  attribute_destinations(trace.events);
  // The jail's init forks the harness, whose exec is the first one in the jail: that is the
  // harness starting, not the sample.
  int harness_pid = 0;
  for (const Event& e : trace.events)
    if (e.source == kSourceKernel && e.kind == "exec") {
      harness_pid = e.pid;
      break;
    }

  nlohmann::json secrets = nlohmann::json::object(), decoy_files = nlohmann::json::array();
  for (const auto& [where, value] : out.decoys.secrets) secrets[where] = value;
  for (const auto& [file, secret] : out.decoys.files) decoy_files.push_back(file);
  std::string harness_end = out.term_signal ? fmt::format("signal {}", out.term_signal) : fmt::format("exit {}", out.exit_code);
  double total_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  trace.header = {
      {"modelvet_trace", kTraceFormatVersion},
      {"tool", {{"name", "modelvet"}, {"version", MODELVET_VERSION}}},
      {"host", host_info(observer_)},
      {"sample", sample},
      {"policy", {{"name", policy_.name}, {"sha256", policy_.sha256}}},
      {"sandbox", sandbox_settings(opt.limits)},
      {"tracer", {{"backend", observer_->backend()}, {"events", stats.events}, {"dropped", stats.dropped},
                  {"per_buffer", stats.per_buffer}}},
      {"run", {{"ran", out.ran}, {"error", out.error}, {"timed_out", out.timed_out}, {"timeout_ms", jail.timeout_ms},
               {"limits_hit", out.limits_hit}, {"harness_exit", out.exit_code}, {"harness_end", harness_end},
               {"events_truncated", out.events_truncated}, {"malformed_event_lines", malformed},
               {"clean_teardown", out.clean_teardown}, {"output_tail", out.output.substr(out.output.size() > 2000 ? out.output.size() - 2000 : 0)},
               {"timing_ms", {{"total", int64_t(total_ms)}, {"setup", int64_t(out.setup_ms)}, {"run", int64_t(out.run_ms)},
                              {"teardown", int64_t(out.teardown_ms)}}}}},
      {"context", {{"harness_pid", harness_pid}, {"jail_init_pid", out.handle.init_pid}, {"home", sandbox::kJailHome},
                   {"model_path", sandbox::jail_model_dir() + "/" + fs::path(path).filename().string()},
                   {"decoy_secrets", secrets}, {"decoy_files", decoy_files}, {"dropped", stats.dropped},
                   {"timed_out", out.timed_out}, {"exec_t_ns", out.exec_t_ns}}},
      {"static", report.to_json()},
  };

  nlohmann::json result = classify(trace, policy_);
  if (!opt.trace_dir.empty() && out.ran) {
    std::string trace_path = (fs::path(opt.trace_dir) / (info.sha256 + ".trace.jsonl")).string();
    std::string error;
    std::error_code ec;
    fs::create_directories(opt.trace_dir, ec);
    if (write_trace(trace, trace_path, &error)) result["trace"] = trace_path;
    else result["trace_error"] = error;
  }
  return result;
}

}  // namespace modelvet
