#include "policies/attribution.h"

#include <algorithm>
#include <map>
#include <numeric>
#include <set>
#include <string_view>

#include <fmt/core.h>

namespace modelvet::policy {
namespace {

bool is_python(const Event& e, const char* kind) {
  if (e.source != kSourcePython) return false;
  if (e.kind == kind) return true;
  // The harness's markers travel as audit events named modelvet.<kind> while the trace module
  // knows no `cause` kind.
  return e.kind == "audit" && str_field(e.data, "event") == std::string("modelvet.") + kind;
}

int64_t int_field(const nlohmann::json& j, const char* key, int64_t fallback) {
  if (!j.is_object()) return fallback;
  auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : fallback;
}

struct Window {
  int64_t seq = 0;
  std::string cause, reason;
  bool main = false;
  size_t begin = 0, end = 0;  // indexes into order
};

// Pairs the markers and checks they add up: seq 1..N each begun and ended once, in stack order
// per thread kind, all between the load phase marker and the load event, from the harness's own
// Python process. N is the load event's cause_windows.
bool pair_windows(const std::vector<const Event*>& order, std::vector<Window>* out, std::string* problem) {
  int python_pid = -1;
  size_t load_phase = order.size(), load_event = order.size();
  for (size_t i = 0; i < order.size(); ++i) {
    const Event& e = *order[i];
    if (is_python(e, "phase")) {
      std::string name = str_field(e.data, "name");
      if (name == "setup" && python_pid < 0) python_pid = e.pid;
      if (name == "load" && load_phase == order.size()) load_phase = i;
    }
    if (is_python(e, "load") && load_event == order.size() && e.pid == python_pid) load_event = i;
  }
  int64_t expected = load_event < order.size() ? int_field(order[load_event]->data, "cause_windows", -1) : -1;
  // The harness states the count again after each exercise (windows also mark library code run
  // on library objects there): the last statement is the total, and the end of the honoured span.
  size_t last = load_event;
  for (size_t i = 0; i < order.size(); ++i)
    if (is_python(*order[i], "cause_count") && order[i]->pid == python_pid && i > load_phase) {
      expected = std::max(expected, int_field(order[i]->data, "count", -1));
      last = i;
    }
  std::map<int64_t, Window> open_windows;
  std::vector<int64_t> stack_main, stack_other;
  std::set<int64_t> seen;
  for (size_t i = 0; i < order.size(); ++i) {
    const Event& e = *order[i];
    if (!is_python(e, "cause")) continue;
    int64_t seq = int_field(e.data, "seq", 0);
    // Windows after the last count (grace, shutdown) are never honoured.
    if (i > last && seq > expected) continue;
    if (e.pid != python_pid || i < load_phase || i > last || seq <= 0 || seq > expected) {
      *problem = fmt::format("cause marker seq {} outside the harness's load", seq);
      return false;
    }
    std::string state = str_field(e.data, "state");
    if (state == "begin") {
      if (!seen.insert(seq).second) {
        *problem = fmt::format("cause marker seq {} begun twice", seq);
        return false;
      }
      Window w;
      w.seq = seq;
      w.cause = str_field(e.data, "cause");
      w.reason = str_field(e.data, "reason");
      w.main = e.data.value("main_thread", false) == true;
      w.begin = i;
      if (w.cause != kCauseFile && w.cause != kCauseLibrary) {
        *problem = fmt::format("cause marker seq {} names cause '{}'", seq, w.cause);
        return false;
      }
      (w.main ? stack_main : stack_other).push_back(seq);
      open_windows[seq] = w;
    } else if (state == "end") {
      auto it = open_windows.find(seq);
      if (it == open_windows.end()) {
        *problem = fmt::format("cause marker seq {} ended without a begin", seq);
        return false;
      }
      auto& stack = it->second.main ? stack_main : stack_other;
      if (stack.empty() || stack.back() != seq) {
        *problem = fmt::format("cause marker seq {} ended out of order", seq);
        return false;
      }
      stack.pop_back();
      it->second.end = i;
      out->push_back(it->second);
      open_windows.erase(it);
    } else {
      *problem = "cause marker without a state";
      return false;
    }
  }
  if (expected < 0) {
    // No count (an older harness, or the load never reported): honour nothing.
    if (!seen.empty()) *problem = "cause markers without the load event's count";
    return seen.empty();
  }
  if (static_cast<int64_t>(seen.size()) != expected || !open_windows.empty()) {
    *problem = fmt::format("{} cause windows announced, {} begun, {} left open", expected, seen.size(), open_windows.size());
    return false;
  }
  return true;
}

}  // namespace

AttributionResult attribute(const std::vector<const Event*>& order, const AttributionContext& ctx) {
  AttributionResult r;
  r.causes.assign(order.size(), Cause{});
  // The harness's own start-up: everything before the load phase marker.
  size_t load_phase = order.size();
  for (size_t i = 0; i < order.size(); ++i)
    if (is_python(*order[i], "phase") && str_field(order[i]->data, "name") == "load") {
      load_phase = i;
      break;
    }
  for (size_t i = 0; i < load_phase && i < order.size(); ++i) r.causes[i].cause = kCauseHarness;

  std::vector<Window> windows;
  std::string problem;
  if (!pair_windows(order, &windows, &problem)) {
    r.markers_valid = false;
    r.problem = problem;
    return r;
  }
  if (ctx.harness_pid == 0) return r;
  // The main thread's cause at each point: the innermost main-thread window open there.
  // Windows are well nested (checked), so a sweep with a stack gives it.
  std::vector<const Window*> begins(order.size(), nullptr), ends(order.size(), nullptr);
  for (const Window& w : windows)
    if (w.main) {
      begins[w.begin] = &w;
      ends[w.end] = &w;
    }
  std::vector<const Window*> stack;
  std::map<int64_t, std::string> library_pids;  // processes forked inside a library window → reason
  int python_pid = -1;
  for (size_t i = 0; i < order.size(); ++i)
    if (is_python(*order[i], "phase")) {
      python_pid = order[i]->pid;
      break;
    }
  for (size_t i = load_phase; i < order.size(); ++i) {
    const Event& e = *order[i];
    if (begins[i]) {
      stack.push_back(begins[i]);
      ++r.windows_honoured;
      continue;
    }
    if (ends[i]) {
      if (!stack.empty()) stack.pop_back();
      continue;
    }
    if (is_python(e, "cause")) continue;
    const Window* top = stack.empty() ? nullptr : stack.back();
    bool in_library = top && top->cause == kCauseLibrary;
    Cause& c = r.causes[i];
    if (e.source == kSourceKernel) {
      auto child = library_pids.find(e.pid);
      if (child != library_pids.end()) {
        c = {kCauseLibrary, child->second};
      } else if (in_library && e.pid == ctx.harness_pid && !e.data.contains("tid")) {
        c = {kCauseLibrary, top->reason};
      }
      if (c.cause == kCauseLibrary && e.kind == "fork") {
        int64_t child_pid = int_field(e.data, "child_pid", 0);
        if (child_pid > 0) library_pids[child_pid] = c.reason;
      }
    } else if (e.source == kSourcePython && in_library && e.pid == python_pid) {
      c = {kCauseLibrary, top->reason};
    }
  }
  return r;
}

AttributionResult attribute_causes(Events& events, const AttributionContext& ctx) {
  std::vector<size_t> idx(events.size());
  std::iota(idx.begin(), idx.end(), size_t{0});
  std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return events[a].t_ns < events[b].t_ns; });
  std::vector<const Event*> order;
  order.reserve(idx.size());
  for (size_t i : idx) order.push_back(&events[i]);
  AttributionResult r = attribute(order, ctx);
  for (size_t k = 0; k < idx.size(); ++k) {
    Event& e = events[idx[k]];
    if (!e.data.is_object()) e.data = nlohmann::json::object();
    e.data["cause"] = r.causes[k].cause;
    if (r.causes[k].cause == kCauseLibrary) e.data["cause_reason"] = r.causes[k].reason;
  }
  return r;
}

}  // namespace modelvet::policy
