#include "verifier/verify.h"

#include <sys/utsname.h>

#include <chrono>
#include <filesystem>
#include <algorithm>

#include <fmt/core.h>

#include "prescan/prescan.h"
#include "sandbox/jail.h"
#include "sandbox/rootfs.h"
#include "sandbox/seccomp_filter.h"
#include "tracer/tracer.h"
#include "trace/bytes_text.h"
#include "trace/merge.h"
#include "verifier/observer.h"
#include "verifier/classify.h"
#include "verifier/file_info.h"
#include "verifier/zygote_pool.h"

namespace modelvet {
namespace fs = std::filesystem;
namespace {

std::string kernel_release() {
  utsname u{};
  uname(&u);
  return u.release;
}

nlohmann::json sandbox_settings(const sandbox::Limits& l) {
  nlohmann::json namespaces = {"pid", "mnt", "net", "ipc", "uts", "cgroup"};
  if (sandbox::rootless_jails()) namespaces.push_back("user");
  nlohmann::json settings = {
      {"namespaces", namespaces},
      {"isolation", sandbox::isolation_label()},
      {"seccomp_denied", sandbox::SeccompProgram::denied_syscalls()},
      {"limits", {{"address_space", sandbox::kSanitizerBuild ? nlohmann::json(nullptr) : nlohmann::json(l.address_space)},
                  {"memory", l.memory}, {"cpu_seconds", l.cpu_seconds},
                  {"processes", l.processes}, {"open_files", l.open_files}, {"file_size", l.file_size},
                  {"scratch_bytes", l.scratch_bytes}}}};
  // Said, not hidden: a sanitizer build's jails have no RLIMIT_AS (sandbox/limits.h).
  if (sandbox::kSanitizerBuild)
    settings["sanitizer_build"] = sandbox::rootless_jails()
                                      ? "ASan/UBSan build: no address-space limit, and rootless jails have no cgroup: no memory limit"
                                      : "ASan/UBSan build: no address-space limit; memory is bounded by the cgroup limit only";
  return settings;
}

// Python turns an address-space limit into MemoryError rather than a kill: still a limit hit.
void add_memory_error_limit(const Events& events, std::vector<std::string>* limits_hit) {
  for (const Event& e : events)
    if (e.source == kSourcePython && e.kind == kinds::kLoad && str_field(e.data, "exception").rfind("MemoryError", 0) == 0 &&
        std::find(limits_hit->begin(), limits_hit->end(), "memory") == limits_hit->end())
      limits_hit->push_back("memory");
}

Events limit_events(const sandbox::JailOutcome& out) {
  Events events;
  for (const std::string& limit : out.limits_hit) {
    Event e;
    e.t_ns = out.exec_t_ns + uint64_t(out.run_ms * 1e6);
    e.source = kSourceKernel;
    e.kind = kinds::kLimit;
    e.pid = out.handle.init_pid;
    e.data = {{"resource", limit}};
    events.push_back(std::move(e));
  }
  return events;
}

// The jail's init forks the harness, whose exec is the first one in the jail: that is the
// harness starting, not the sample.
int harness_pid_of(const Events& events) {
  for (const Event& e : events)
    if (e.source == kSourceKernel && e.kind == kinds::kExec) return e.pid;
  return 0;
}

// Kernel, harness and fake-network evidence in one trace, with the limits the run hit.
MergeResult merge_evidence(Observation* observation, sandbox::JailOutcome& out, tracer::Stats* stats) {
  MergeInputs inputs;
  if (observation) {
    inputs.kernel = observation->finish();
    *stats = observation->stats();
  }
  inputs.release_t_ns = out.exec_t_ns;
  inputs.python_lines = std::move(out.event_lines);
  inputs.net = std::move(out.net_events);
  MergeResult merged = merge_sources(std::move(inputs));
  add_memory_error_limit(merged.events, &out.limits_hit);
  for (Event& e : limit_events(out)) merged.events.push_back(std::move(e));
  sort_events(merged.events);
  return merged;
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

RunOutcome run_outcome(const sandbox::JailOutcome& out, int timeout_ms, const MergeResult& merged, double total_ms) {
  RunOutcome r;
  r.ran = out.ran;
  r.error = out.error;
  r.timed_out = out.timed_out;
  r.timeout_ms = timeout_ms;
  r.limits_hit = out.limits_hit;
  r.harness_exit = out.exit_code;
  r.harness_end = out.term_signal ? fmt::format("signal {}", out.term_signal) : fmt::format("exit {}", out.exit_code);
  r.events_truncated = out.events_truncated;
  r.malformed_event_lines = merged.malformed_python_lines;
  r.unattributed_sessions = merged.unattributed_sessions;
  r.clean_teardown = out.clean_teardown;
  r.memory_peak_bytes = out.memory_peak_bytes;
  r.output_tail = escape_bytes(out.output.substr(out.output.size() > 2000 ? out.output.size() - 2000 : 0));
  r.timing_ms = {int64_t(total_ms), int64_t(out.setup_ms), int64_t(out.run_ms), int64_t(out.teardown_ms)};
  r.launch = out.launch;
  return r;
}

RunContext run_context(const sandbox::JailOutcome& out, const Events& events, const std::string& model_path) {
  RunContext c;
  // The harness's own pid, as the jail saw it while it ran; else its exec. A zygote's harness
  // has no exec: a first exec there is the sample's, so without the pid there is none (and
  // no library window is honoured: everything counts as the file's).
  c.harness_pid = out.harness_host_pid ? out.harness_host_pid
                  : out.launch.rfind("zygote", 0) == 0 ? 0
                                                        : harness_pid_of(events);
  c.jail_init_pid = out.handle.init_pid;
  c.home = sandbox::kJailHome;
  c.model_path = escape_bytes(sandbox::jail_model_dir() + "/" + fs::path(model_path).filename().string());
  for (const auto& [where, value] : out.decoys.secrets) c.decoy_secrets[where] = value;
  for (const auto& [file, secret] : out.decoys.files) c.decoy_files.push_back(file);
  c.exec_t_ns = out.exec_t_ns;
  return c;
}

}  // namespace

nlohmann::json host_info(const Observer* observer) {
  return {{"kernel", kernel_release()},
          {"tracer", observer ? observer->backend() : "none"},
          {"sandbox", sandbox::isolation_label()}};
}

Verifier::Verifier(policy::Policy policy, Observer* observer, std::string observer_error)
    : policy_(std::move(policy)), observer_(observer), observer_error_(std::move(observer_error)) {}

// One file never ends the run: whatever throws while it is verified makes its result `error`.
nlohmann::json Verifier::verify(const std::string& path, const VerifyOptions& opt, int slot) const {
  // The path as reported: bytes text (trace/bytes_text.h), like every path the tracer reports.
  nlohmann::json sample = {{"path", escape_bytes(opt.display_path.empty() ? path : opt.display_path)}, {"sha256", ""}, {"size", 0}};
  auto verify_file = [&]() -> nlohmann::json {
    auto t0 = std::chrono::steady_clock::now();
    FileInfo info = inspect_file(path);
    sample["sha256"] = info.sha256;
    sample["size"] = info.size;
    if (!info.error.empty()) return error_result(sample, info.error);

    prescan::Report report = prescan::prescan_file(path);
    sample["format"] = report.sniff.format;
    std::string loader = opt.loader == "auto" ? report.sniff.loader : opt.loader;
    // A victim unpacks a 7z-wrapped checkpoint before loading it: the harness's 7z loader does both.
    if (opt.loader == "auto" && report.sniff.format == "7z" && !loader.empty()) loader = "7z";
    sample["loader"] = loader;
    if (opt.loader == "auto" && !report.sniff.no_code_path.empty()) {
      nlohmann::json static_scan = report.to_json();
      escape_invalid_strings(static_scan);
      return no_code_path_result(sample, static_scan, report.sniff.no_code_path);
    }
    if (loader.empty())
      return error_result(sample, fmt::format("unsupported format '{}': no loader would open it{}", report.sniff.format,
                                              report.sniff.notes.empty() ? "" : " (" + report.sniff.notes.front() + ")"));
    if (!observer_) return error_result(sample, "tracer unavailable, refusing to detonate unobserved: " + observer_error_);

    sandbox::JailConfig jail;
    jail.model_path = path;
    prescan::Siblings siblings = prescan::model_siblings(path, report);
    jail.model_siblings = siblings.paths;
    for (const auto& note : siblings.notes) report.anomalies.push_back(note);
    if (!siblings.paths.empty())
      report.sniff.notes.push_back(fmt::format("{} sibling files beside it shown to the jail (read-only)", siblings.paths.size()));
    jail.limits = opt.limits;
    // A torch checkpoint's storages are mapped from the file, not copied (harness/_mv_torchmap.py):
    // the mapping needs the file's size in address space on top of the interpreter's budget. What
    // is resident stays bounded by the cgroup memory limit (page cache of a read-only file); a
    // rootless jail, which has no cgroup, has that much more address space for anything else too.
    if (loader == "torch" && !sandbox::kSanitizerBuild) jail.limits.address_space += info.size;
    jail.timeout_ms = opt.timeout_s * 1000;
    jail.slot = slot;
    jail.harness_args = {"__harness", "--file", "{model}", "--loader", loader, "--format", report.sniff.format,
                         "--event-fd", "3", "--grace-ms", std::to_string(opt.grace_ms)};

    std::shared_ptr<sandbox::Zygote> zygote;
    std::string no_zygote;
    if (opt.zygotes) zygote = opt.zygotes->for_loader(loader, &no_zygote);
    jail.zygote = zygote.get();

    std::unique_ptr<Observation> observation;
    sandbox::JailOutcome out = sandbox::run_jail(jail, [&](const sandbox::JailHandle& h, std::string* error) {
      observation = observer_->watch(h, error);
      return observation != nullptr;
    });
    if (opt.zygotes && !zygote) out.launch = "exec (" + no_zygote + ")";

    tracer::Stats stats;
    MergeResult merged = merge_evidence(observation.get(), out, &stats);
    if (!merged.errors.empty()) return error_result(sample, "internal: " + merged.errors.front());

    Trace trace;
    trace.events = std::move(merged.events);
    // Every string is bytes text where it entered; whatever is not valid UTF-8 all the same is
    // escaped here, before the policy reads it (its matchers and reports want UTF-8).
    for (Event& e : trace.events) escape_invalid_strings(e.data);
    TraceHeader& h = trace.header;
    h.sample = {sample["path"], info.sha256, info.size, report.sniff.format, loader};
    h.run = run_outcome(out, jail.timeout_ms, merged, ms_since(t0));
    h.context = run_context(out, trace.events, path);
    h.tracer = {observer_->backend(), stats.events, stats.dropped, stats.per_buffer};
    h.tool = {{"name", "modelvet"}, {"version", MODELVET_VERSION}};
    h.host = host_info(observer_);
    h.policy = {{"name", policy_.name}, {"sha256", policy_.sha256}};
    h.sandbox = sandbox_settings(jail.limits);
    h.static_scan = report.to_json();
    escape_invalid_strings(h.static_scan);  // zip member names and the like: bytes text too

    nlohmann::json result = classify(trace, policy_);
    result["launch"] = out.launch;
    if (!opt.trace_dir.empty() && out.ran) {
      std::string trace_path = (fs::path(opt.trace_dir) / (info.sha256 + ".trace.jsonl")).string();
      std::string error;
      std::error_code ec;
      fs::create_directories(opt.trace_dir, ec);
      if (write_trace(trace, trace_path, &error)) result["trace"] = trace_path;
      else result["trace_error"] = error;
    }
    return result;
  };
  try {
    return verify_file();
  } catch (const std::exception& e) {
    return error_result(sample, fmt::format("internal error: {}", e.what()));
  } catch (...) {
    return error_result(sample, "internal error: unknown exception");
  }
}

}  // namespace modelvet
