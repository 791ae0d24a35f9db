#include "trace/trace.h"

#include "trace/bytes_text.h"

#include <algorithm>
#include <fstream>

#include <fmt/core.h>

namespace modelvet {

void sort_events(Events& events) {
  // Stable, with source/kind/pid as tie-breakers, so the same events always come out in one order.
  std::stable_sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
    return std::tie(a.t_ns, a.source, a.kind, a.pid) < std::tie(b.t_ns, b.source, b.kind, b.pid);
  });
}

bool write_trace(const Trace& trace, const std::string& path, std::string* error) {
  std::string tmp = path + ".part";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) {
      *error = fmt::format("cannot write trace {}", path);
      return false;
    }
    // Strings are bytes text where they entered (trace/bytes_text.h); any other invalid UTF-8 is
    // escaped here rather than replaced, so a trace never loses a byte.
    auto line = [](nlohmann::json j) {
      escape_invalid_strings(j);
      return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    };
    out << line(to_json(trace.header)) << '\n';
    for (const Event& e : trace.events) out << line(to_json(e)) << '\n';
    if (!out.flush()) {
      *error = fmt::format("cannot write trace {}", path);
      return false;
    }
  }
  // Renamed into place whole, so a reader never sees half a trace.
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    *error = fmt::format("cannot move trace into {}", path);
    return false;
  }
  return true;
}

bool read_trace(const std::string& path, Trace* trace, std::string* error) {
  std::ifstream in(path);
  if (!in) {
    *error = fmt::format("cannot open trace {}", path);
    return false;
  }
  std::string line;
  size_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty()) continue;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      *error = fmt::format("{}:{}: not a JSON object", path, n);
      return false;
    }
    std::string why;
    if (n == 1) {
      if (!j.contains("modelvet_trace")) {
        *error = fmt::format("{}: not a modelvet trace (no header line)", path);
        return false;
      }
      if (!header_from_json(j, &trace->header, &why)) {
        *error = fmt::format("{}:1: {}", path, why);
        return false;
      }
    } else {
      Event e;
      if (!read_event(j, &e, &why)) {
        *error = fmt::format("{}:{}: {}", path, n, why);
        return false;
      }
      trace->events.push_back(std::move(e));
    }
  }
  if (n == 0) {
    *error = fmt::format("{}: empty trace", path);
    return false;
  }
  sort_events(trace->events);
  return true;
}

}  // namespace modelvet
