#include "verifier/classify.h"

#include <algorithm>
#include <cstdint>
#include <set>

#include <fmt/core.h>

#include "verifier/behavior.h"

namespace modelvet {
namespace {

const Event* find_python(const Events& events, const std::string& kind, const std::string& name = "") {
  for (const Event& e : events)
    if (e.source == kSourcePython && e.kind == kind && (name.empty() || str_field(e.data, "name") == name)) return &e;
  return nullptr;
}

policy::Context context_from(const TraceHeader& h) {
  policy::Context ctx;
  ctx.harness_pid = h.context.harness_pid;
  ctx.home = h.context.home;
  ctx.model_path = h.context.model_path;
  ctx.decoy_secrets = h.context.decoy_secrets;
  ctx.decoy_files = h.context.decoy_files;
  ctx.dropped = h.tracer.dropped;
  ctx.timed_out = h.run.timed_out;
  return ctx;
}

// A load that raised on a structurally broken file, with nothing executed, is an unreadable
// file (error), not a clean bill: nothing was verified.
bool broken_file(const TraceHeader& header, const std::string& exception) {
  for (const char* marker : {"truncated", "EOFError", "UnpicklingError", "BadZipFile", "not a zip file",
                             "Ran out of input", "invalid load key", "Bad CRC", "corrupt"})
    if (exception.find(marker) != std::string::npos) return true;
  for (const auto& a : header.static_scan.value("anomalies", nlohmann::json::array()))
    if (a.is_string() && a.get<std::string>().find("truncated") != std::string::npos) return true;
  return false;
}

nlohmann::json calls_of(const Events& events) {
  nlohmann::json calls = nlohmann::json::array();
  for (const Event& e : events)
    if (e.source == kSourcePython && e.kind == kinds::kCall && calls.size() < 200)
      calls.push_back({{"callable", str_field(e.data, "callable")}, {"args", str_field(e.data, "args")},
                       {"origin", str_field(e.data, "origin")}});
  return calls;
}

// Marks each statically flagged global with whether the detonation really called it, so the
// analyst sees "flagged: builtins.getattr" next to what happened.
nlohmann::json with_coverage(nlohmann::json stat, const nlohmann::json& calls) {
  if (!stat.contains("flagged") || !stat["flagged"].is_array()) return stat;
  size_t reached = 0;
  for (auto& f : stat["flagged"]) {
    std::string global = str_field(f, "global");
    bool hit = false;
    for (const auto& c : calls) hit |= str_field(c, "callable") == global;
    f["reached"] = hit;
    reached += hit;
  }
  stat["coverage"] = fmt::format("{} of {} flagged globals called during the detonation", reached, stat["flagged"].size());
  return stat;
}

uint64_t count_field(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_unsigned() ? it->get<uint64_t>() : 0;
}

// What the torch loader copied into memory and what it mapped from the file
// (harness/_mv_torchmap.py), summed over the checkpoints one file held (a 7z: one per member).
// Null when no loader said: the other loaders read what they load.
nlohmann::json materialisation_of(const Events& events) {
  nlohmann::json m;
  std::set<std::string> formats;
  for (const Event& e : events) {
    if (e.source != kSourcePython || e.kind != kinds::kAudit || str_field(e.data, "event") != "modelvet.materialisation") continue;
    if (m.is_null())
      m = {{"storages", 0}, {"mapped", 0}, {"read", 0}, {"bytes_mapped", 0}, {"bytes_read", 0},
           {"fallback", nlohmann::json::object()}, {"peak_rss_bytes", 0}};
    for (const char* key : {"storages", "mapped", "read", "bytes_mapped", "bytes_read"})
      m[key] = m[key].get<uint64_t>() + count_field(e.data, key);
    m["peak_rss_bytes"] = std::max(m["peak_rss_bytes"].get<uint64_t>(), count_field(e.data, "peak_rss_bytes"));
    if (auto f = e.data.find("fallback"); f != e.data.end() && f->is_object())
      for (const auto& [why, n] : f->items())
        if (n.is_number_unsigned() && m["fallback"].size() < 16) m["fallback"][why] = m["fallback"].value(why, uint64_t(0)) + n.get<uint64_t>();
    formats.insert(str_field(e.data, "format", "unknown"));
  }
  if (!m.is_null()) {
    std::string joined;
    for (const auto& f : formats) joined += (joined.empty() ? "" : "+") + f;
    m["format"] = joined;
  }
  return m;
}

}  // namespace

nlohmann::json error_result(const nlohmann::json& sample, const std::string& reason) {
  nlohmann::json r = sample;
  r["verdict"] = "error";
  r["score"] = 0;
  r["summary"] = reason;
  r["code_executed"] = false;
  r["calls"] = nlohmann::json::array();
  r["findings"] = nlohmann::json::array();
  r["error"] = reason;
  return r;
}

nlohmann::json no_code_path_result(const nlohmann::json& sample, const nlohmann::json& static_scan, const std::string& reason) {
  nlohmann::json r = sample;
  r["verdict"] = "benign";
  r["score"] = 0;
  r["summary"] = reason + " (decided by the pre-scan: no detonation needed)";
  r["detonated"] = false;
  r["code_executed"] = false;
  r["calls"] = nlohmann::json::array();
  r["findings"] = nlohmann::json::array();
  r["load"] = {{"status", "not needed"}, {"reason", reason}};
  r["static"] = static_scan;
  r["error"] = nullptr;
  return r;
}

nlohmann::json classify(const Trace& trace, const policy::Policy& pol) {
  const TraceHeader& h = trace.header;
  const nlohmann::json sample = to_json(h.sample);
  const RunOutcome& run = h.run;
  if (!run.ran) return error_result(sample, "sandbox: " + (run.error.empty() ? "the jail did not start" : run.error));

  policy::Context ctx = context_from(h);
  const Event* load = find_python(trace.events, kinds::kLoad);
  const Event* load_phase = find_python(trace.events, kinds::kPhase, "load");
  ctx.load_reached = load_phase != nullptr;
  policy::Verdict v = policy::evaluate(pol, trace.events, ctx);

  nlohmann::json r = sample;
  r["verdict"] = v.verdict;
  r["score"] = v.score;
  r["summary"] = v.summary;
  r["calls"] = calls_of(trace.events);
  nlohmann::json findings = nlohmann::json::array();
  for (const auto& f : v.findings)
    findings.push_back({{"rule", f.rule}, {"severity", f.severity}, {"attack", f.attack}, {"evidence", f.evidence},
                        {"t_ms", f.t_ms}, {"phase", f.phase},
                        {"source", f.event.is_object() ? str_field(f.event, "source", "run") : "run"},
                        {"cause", f.event.is_object() ? str_field(f.event, "cause", "file") : "run"}});
  r["findings"] = findings;
  r["code_executed"] = !r["calls"].empty() || !findings.empty();

  BehaviorContext bctx;
  bctx.home = ctx.home;
  bctx.decoy_files.insert(ctx.decoy_files.begin(), ctx.decoy_files.end());
  bctx.from_t_ns = load_phase ? load_phase->t_ns : h.context.exec_t_ns;
  r["behavior"] = summarize_behavior(trace.events, bctx);

  nlohmann::json load_json = {{"status", "unknown"}};
  if (load) {
    load_json = {{"status", str_field(load->data, "status", "unknown")}, {"exception", str_field(load->data, "exception")},
                 {"type", str_field(load->data, "type")}};
    if (load->data.contains("loader")) r["loader"] = load->data["loader"];
  }
  nlohmann::json stubs = nlohmann::json::array();
  for (const Event& e : trace.events)
    if (e.source == kSourcePython && e.kind == kinds::kStub) stubs.push_back(str_field(e.data, "module") + "." + str_field(e.data, "name"));
  if (!stubs.empty()) load_json["stubbed"] = stubs;
  if (nlohmann::json m = materialisation_of(trace.events); !m.is_null()) load_json["materialisation"] = m;
  // The harness marks its shutdown; without that mark its pipe went quiet early (a payload may
  // close or flood it, or end the process), and everything after is unreported by Python.
  if (!find_python(trace.events, kinds::kPhase, "shutdown"))
    load_json["harness_pipe"] = "went silent before shutdown: Python-level events after that point are missing";
  r["load"] = load_json;
  r["tracer"] = to_json(h.tracer);
  r["timing_ms"] = to_json(run.timing_ms);
  if (load_phase && load) r["timing_ms"]["load"] = (load->t_ns - load_phase->t_ns) / 1000000;
  // The jail's own memory (a forked jail's pages shared with its zygote are the zygote's).
  if (run.memory_peak_bytes) r["memory"] = {{"jail_peak_bytes", run.memory_peak_bytes}};
  r["limits_hit"] = run.limits_hit;
  if (!h.static_scan.empty()) r["static"] = with_coverage(h.static_scan, r["calls"]);
  r["error"] = nullptr;

  // What the policy cannot see from events alone: a run that proved nothing.
  if (v.verdict == "benign") {
    const std::string status = str_field(load_json, "status", "unknown");
    const std::string exception = str_field(load_json, "exception");
    if (run.timed_out) {
      r["verdict"] = "suspicious";
      r["score"] = std::max(v.score, 50);
      r["summary"] = fmt::format("timed out after {} ms before the load finished", run.timeout_ms);
    } else if (!load) {
      std::string why = run.harness_exit == 0 ? "the harness ended without reporting a load"
                                                            : fmt::format("the harness died ({})", run.harness_end);
      if (!r["calls"].empty()) {
        // The file's code ran and the load never finished: the payload may have ended the
        // harness or cut its pipe to hide what came next. A human should look.
        r["verdict"] = "suspicious";
        r["score"] = std::max(v.score, 50);
        r["summary"] = fmt::format("{} after the file's code ran ({} calls, first {}): the load never finished", why,
                                   r["calls"].size(), str_field(r["calls"][0], "callable"));
      } else {
        r["verdict"] = "error";
        r["error"] = why;
        r["summary"] = why;
      }
    } else if (status == "raised" && broken_file(h, exception)) {
      std::string why = fmt::format("unreadable {} file: {}", h.sample.format.empty() ? "model" : h.sample.format, exception);
      r["verdict"] = "error";
      r["error"] = why;
      r["summary"] = why;
    } else if (status == "raised" && !r["calls"].empty()) {
      // Every call before the raise was of the benign profile (a call outside it is the
      // policy's load.failed_after_calls, and the verdict would not be benign here): the
      // victim's own loader refused the file while rebuilding plain data (a Python 2 joblib
      // pickle under Python 3, say), before any code of the file's choosing ran.
      r["summary"] = fmt::format("the loader refused the file after only calls of the benign profile ({} calls, first {}): {}",
                                 r["calls"].size(), str_field(r["calls"][0], "callable"), exception);
    } else if (status == "raised") {
      r["summary"] = fmt::format("the loader refused the file before any of its code ran: {}", exception);
    }
  }
  return r;
}

}  // namespace modelvet
