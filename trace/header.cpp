#include "trace/header.h"

#include <set>

#include <fmt/core.h>

namespace modelvet {
namespace {
using json = nlohmann::json;

// Reads one JSON object field by field. The first problem (missing field, wrong type, unknown
// field) is kept and reported by ok(); later reads are no-ops, so a block reads as a plain list.
class FieldReader {
 public:
  FieldReader(const json& j, std::string where, std::string* error) : j_(j), where_(std::move(where)), error_(error) {
    if (!j_.is_object()) fail("not an object");
  }

  template <class T>
  void required(const char* key, T* out) {
    read(key, out, true);
  }
  template <class T>
  void optional(const char* key, T* out) {
    read(key, out, false);
  }
  // Descriptive sub-objects are taken whole.
  void object(const char* key, json* out) {
    seen_.insert(key);
    if (failed_) return;
    auto it = j_.find(key);
    if (it == j_.end()) return fail(fmt::format("missing {}", key));
    if (!it->is_object()) return fail(fmt::format("{} is not an object", key));
    *out = *it;
  }
  // True when every field was read cleanly; with strict, also no field went unread.
  bool ok(bool strict) {
    if (!failed_ && strict)
      for (const auto& [key, value] : j_.items())
        if (!seen_.count(key)) {
          fail(fmt::format("unknown field {}", key));
          break;
        }
    return !failed_;
  }

 private:
  template <class T>
  void read(const char* key, T* out, bool is_required) {
    seen_.insert(key);
    if (failed_) return;
    auto it = j_.find(key);
    if (it == j_.end()) {
      if (is_required) fail(fmt::format("missing {}", key));
      return;
    }
    if (!type_fits<T>(*it)) return fail(fmt::format("{} has the wrong type ({})", key, it->type_name()));
    try {
      it->get_to(*out);
    } catch (const json::exception& e) {
      fail(fmt::format("{}: {}", key, e.what()));
    }
  }
  template <class T>
  static bool type_fits(const json& v) {
    if constexpr (std::is_same_v<T, bool>) return v.is_boolean();
    else if constexpr (std::is_same_v<T, std::string>) return v.is_string();
    else if constexpr (std::is_unsigned_v<T>) return v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0);
    else if constexpr (std::is_integral_v<T>) return v.is_number_integer();
    else return true;  // containers: nlohmann checks element types in get_to
  }
  void fail(const std::string& what) {
    if (failed_) return;
    failed_ = true;
    *error_ = fmt::format("trace header: {}: {}", where_, what);
  }

  const json& j_;
  std::string where_;
  std::string* error_;
  std::set<std::string> seen_;
  bool failed_ = false;
};

json to_json(const RunOutcome& r) {
  return {{"ran", r.ran},
          {"error", r.error},
          {"timed_out", r.timed_out},
          {"timeout_ms", r.timeout_ms},
          {"limits_hit", r.limits_hit},
          {"harness_exit", r.harness_exit},
          {"harness_end", r.harness_end},
          {"events_truncated", r.events_truncated},
          {"malformed_event_lines", r.malformed_event_lines},
          {"unattributed_sessions", r.unattributed_sessions},
          {"clean_teardown", r.clean_teardown},
          {"output_tail", r.output_tail},
          {"timing_ms", to_json(r.timing_ms)},
          {"launch", r.launch},
          {"memory_peak_bytes", r.memory_peak_bytes}};
}

json to_json(const RunContext& c) {
  return {{"harness_pid", c.harness_pid}, {"jail_init_pid", c.jail_init_pid}, {"home", c.home},
          {"model_path", c.model_path},   {"decoy_secrets", c.decoy_secrets}, {"decoy_files", c.decoy_files},
          {"exec_t_ns", c.exec_t_ns}};
}

bool read_sample(const json& j, SampleInfo* s, std::string* error) {
  FieldReader r(j, "sample", error);
  r.required("path", &s->path);
  r.required("sha256", &s->sha256);
  r.required("size", &s->size);
  r.required("format", &s->format);
  r.required("loader", &s->loader);
  return r.ok(true);
}

bool read_timing(const json& j, RunTiming* t, std::string* error) {
  FieldReader r(j, "run: timing_ms", error);
  r.required("total", &t->total);
  r.required("setup", &t->setup);
  r.required("run", &t->run);
  r.required("teardown", &t->teardown);
  return r.ok(true);
}

bool read_run(const json& j, RunOutcome* o, std::string* error) {
  FieldReader r(j, "run", error);
  json timing;
  r.required("ran", &o->ran);
  r.required("error", &o->error);
  r.required("timed_out", &o->timed_out);
  r.required("timeout_ms", &o->timeout_ms);
  r.required("limits_hit", &o->limits_hit);
  r.required("harness_exit", &o->harness_exit);
  r.required("harness_end", &o->harness_end);
  r.required("events_truncated", &o->events_truncated);
  r.required("malformed_event_lines", &o->malformed_event_lines);
  r.required("unattributed_sessions", &o->unattributed_sessions);
  r.required("clean_teardown", &o->clean_teardown);
  r.required("output_tail", &o->output_tail);
  r.optional("launch", &o->launch);  // traces written before zygotes existed: "exec"
  r.optional("memory_peak_bytes", &o->memory_peak_bytes);  // and before it was measured: 0
  r.object("timing_ms", &timing);
  return r.ok(true) && read_timing(timing, &o->timing_ms, error);
}

bool read_context(const json& j, RunContext* c, std::string* error) {
  FieldReader r(j, "context", error);
  r.required("harness_pid", &c->harness_pid);
  r.required("jail_init_pid", &c->jail_init_pid);
  r.required("home", &c->home);
  r.required("model_path", &c->model_path);
  r.required("decoy_secrets", &c->decoy_secrets);
  r.required("decoy_files", &c->decoy_files);
  r.required("exec_t_ns", &c->exec_t_ns);
  return r.ok(true);
}

bool read_tracer(const json& j, TracerStats* t, std::string* error) {
  FieldReader r(j, "tracer", error);
  r.required("backend", &t->backend);
  r.required("events", &t->events);
  r.required("dropped", &t->dropped);
  r.object("per_buffer", &t->per_buffer);
  return r.ok(true);
}

}  // namespace

json to_json(const RunTiming& t) {
  return {{"total", t.total}, {"setup", t.setup}, {"run", t.run}, {"teardown", t.teardown}};
}

json to_json(const TracerStats& t) {
  return {{"backend", t.backend}, {"events", t.events}, {"dropped", t.dropped}, {"per_buffer", t.per_buffer}};
}

json to_json(const SampleInfo& s) {
  return {{"path", s.path}, {"sha256", s.sha256}, {"size", s.size}, {"format", s.format}, {"loader", s.loader}};
}

json to_json(const TraceHeader& h) {
  return {{"modelvet_trace", h.format},
          {"tool", h.tool},
          {"host", h.host},
          {"sample", to_json(h.sample)},
          {"policy", h.policy},
          {"sandbox", h.sandbox},
          {"tracer", to_json(h.tracer)},
          {"run", to_json(h.run)},
          {"context", to_json(h.context)},
          {"static", h.static_scan}};
}

bool header_from_json(const json& j, TraceHeader* h, std::string* error) {
  FieldReader top(j, "top level", error);
  top.required("modelvet_trace", &h->format);
  if (!top.ok(false)) return false;
  if (h->format != kTraceFormatVersion) {
    *error = fmt::format("trace header: format {} is not the one this modelvet reads ({})", h->format, kTraceFormatVersion);
    return false;
  }
  json sample, run, context, tracer;
  top.object("sample", &sample);
  top.object("run", &run);
  top.object("context", &context);
  top.object("tracer", &tracer);
  top.object("tool", &h->tool);
  top.object("host", &h->host);
  top.object("policy", &h->policy);
  top.object("sandbox", &h->sandbox);
  top.object("static", &h->static_scan);
  return top.ok(true) && read_sample(sample, &h->sample, error) && read_run(run, &h->run, error) &&
         read_context(context, &h->context, error) && read_tracer(tracer, &h->tracer, error);
}

}  // namespace modelvet
