#include "policies/timeline.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <tuple>

namespace modelvet::policy {
namespace {

const std::map<std::string, int> kPhaseOrder = {{"setup", 0}, {"load", 1}, {"exercise", 2}, {"grace", 3}, {"shutdown", 4}};
const char* const kPathFields[] = {"path", "new_path", "filename", "resolved"};

// Every pid the trace shows inside the jail (host and jail numbering both: kill() takes the
// jail's, the tracer reports the host's).
std::set<int64_t> jail_pids(const Events& events) {
  std::set<int64_t> pids;
  for (const Event& e : events) {
    pids.insert(e.pid);
    if (e.kind == kinds::kFork && e.data.contains("child_pid") && e.data["child_pid"].is_number())
      pids.insert(e.data["child_pid"].get<int64_t>());
  }
  return pids;
}

nlohmann::json make_view(const Event& e, const std::string& phase, const Context& ctx, const std::set<int64_t>& pids) {
  nlohmann::json view = e.data.is_object() ? e.data : nlohmann::json::object();
  view["source"] = e.source;
  view["kind"] = e.kind;
  view["pid"] = e.pid;
  view["t_ns"] = e.t_ns;
  view["phase"] = phase;
  if (e.source != kSourceKernel) return view;
  for (const char* field : kPathFields) {
    auto it = view.find(field);
    if (it != view.end() && it->is_string() && !it->get<std::string>().empty())
      *it = normalize_path(it->get<std::string>(), ctx);
  }
  nlohmann::json paths = nlohmann::json::array();
  const char* first = view.contains("resolved") ? "resolved" : e.kind == kinds::kExec ? "filename" : "path";
  for (const char* field : {first, "new_path"})
    if (view.contains(field) && view[field].is_string() && !view[field].get<std::string>().empty()) paths.push_back(view[field]);
  view["paths"] = paths;
  if (e.kind == kinds::kKill && view.contains("target_pid") && view["target_pid"].is_number()) {
    int64_t target = view["target_pid"].get<int64_t>();
    // 0 and -pgid address the caller's own process group; -1 is every process it can reach.
    view["target_in_jail"] = target == 0 || (target != -1 && pids.count(target < 0 ? -target : target) > 0);
  }
  return view;
}

}  // namespace

std::string normalize_path(const std::string& path, const Context& ctx) {
  namespace fs = std::filesystem;
  std::string p = path;
  if (p == "~" || p.starts_with("~/")) p = ctx.home + p.substr(1);
  else if (p.starts_with("$HOME")) p = ctx.home + p.substr(5);
  if (p.empty()) return p;
  fs::path fp = p.front() == '/' ? fs::path(p) : fs::path(ctx.scratch) / p;
  std::string out = fp.lexically_normal().string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

std::string string_field(const nlohmann::json& obj, const char* key, const std::string& fallback) {
  if (!obj.is_object()) return fallback;
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : fallback;
}

std::string display_path(const std::string& path, const std::string& home) {
  if (!home.empty() && path.starts_with(home) && (path.size() == home.size() || path[home.size()] == '/'))
    return std::string("~").append(path, home.size());
  return path;
}

Timeline build_timeline(const Events& events, const Context& ctx) {
  // Sort by time, then by content, so the same events in any input order give the same result.
  // The content key is the data's exact bytes (CBOR carries strings as they are): a string that
  // is not UTF-8 neither throws, as dump() would, nor collides with another, as U+FFFD would.
  std::vector<std::pair<std::tuple<uint64_t, std::string, std::string, int, std::vector<uint8_t>>, const Event*>> order;
  order.reserve(events.size());
  for (const Event& e : events) order.push_back({{e.t_ns, e.source, e.kind, e.pid, nlohmann::json::to_cbor(e.data)}, &e});
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.first < b.first; });

  Timeline tl;
  for (const auto& [_, e] : order) tl.has_markers |= e->source == kSourcePython && e->kind == kinds::kPhase;
  // Without any marker the phases are unknown: once the load was reached, treat everything as
  // the load (fail closed) rather than as the harness's own setup.
  std::string phase = !tl.has_markers && ctx.load_reached ? "load" : kPhaseSetup;
  int rank = -1;
  uint64_t t0 = order.empty() ? 0 : std::get<0>(order.front().first);
  std::set<int64_t> pids = jail_pids(events);
  for (const auto& [_, e] : order) {
    TimedEvent te;
    te.event = e;
    te.t_ms = (e->t_ns - t0) / 1000000;
    if (e->source == kSourcePython && e->kind == kinds::kPhase) {
      std::string name = string_field(e->data, "name");
      auto it = kPhaseOrder.find(name);
      // Phases only move forward: a marker that goes back (a payload writing to the harness's
      // pipe to hide what follows as "setup") is ignored and reported.
      if (it == kPhaseOrder.end() || it->second <= rank) {
        te.phase = phase;
        te.view = make_view(*e, phase, ctx, pids);
        tl.ignored_markers.push_back(te);
        continue;
      }
      rank = it->second;
      phase = name;
    }
    te.phase = phase;
    te.view = make_view(*e, phase, ctx, pids);
    tl.events.push_back(std::move(te));
  }
  return tl;
}

}  // namespace modelvet::policy
