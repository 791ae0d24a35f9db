#include "trace/merge.h"

#include <map>
#include <tuple>

#include <fmt/core.h>

#include "trace/trace.h"

namespace modelvet {
namespace {

uint64_t shifted(uint64_t t_ns, int64_t offset_ns) {
  if (offset_ns < 0 && uint64_t(-offset_ns) > t_ns) return 0;
  return t_ns + offset_ns;
}

// Python lines came through the harness pipe, whatever they claim: their source is python. A line
// that is no event of a kind the harness writes is counted, never trusted.
void add_python_events(const std::vector<std::string>& lines, int64_t offset_ns, MergeResult* out) {
  for (const auto& line : lines) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      ++out->malformed_python_lines;
      continue;
    }
    Event e = event_from_json(j);
    e.source = kSourcePython;
    if (!is_known_kind(e.source, e.kind)) {
      ++out->malformed_python_lines;
      continue;
    }
    e.t_ns = shifted(e.t_ns, offset_ns);
    out->events.push_back(std::move(e));
  }
}

// Events our own code produced: an unknown kind is a bug in a producer, reported, not dropped.
void add_own_events(Events events, const char* source, int64_t offset_ns, MergeResult* out) {
  for (Event& e : events) {
    if (!is_known_kind(e.source, e.kind)) {
      out->errors.push_back(fmt::format("{} event of unknown kind '{}' from source '{}'", source, e.kind, e.source));
      continue;
    }
    e.t_ns = shifted(e.t_ns, offset_ns);
    out->events.push_back(std::move(e));
  }
}

std::string session_proto(const Event& e) {
  return (e.kind == kinds::kUdp || e.kind == kinds::kDns) ? "udp" : "tcp";
}

uint64_t number_of(const Event& e, const char* key) {
  auto it = e.data.find(key);
  return it != e.data.end() && it->is_number_integer() && it->get<int64_t>() > 0 ? it->get<uint64_t>() : 0;
}

// The redirects of one socket, in send order, under one identity: its cookie, or (for a datagram
// whose sender closed the socket before the fake network could ask) the port it was bound to.
class RedirectsBySocket {
 public:
  explicit RedirectsBySocket(const Events& events) {
    for (const Event& e : events) {
      if (e.source != kSourceKernel || e.kind != kinds::kNetRedirect || !e.data.value("redirected", false)) continue;
      std::string proto = str_field(e.data, "proto");
      if (uint64_t cookie = number_of(e, "sock")) by_cookie_[{cookie, proto}].push_back(&e);
      if (uint64_t port = number_of(e, "src_port")) by_port_[{port, proto}].push_back(&e);
    }
  }
  // The next redirect of this session's socket (null: the socket had none); *how is empty when
  // the socket could not be identified at all.
  const Event* take(const Event& session, std::string* how) {
    std::string proto = session_proto(session);
    if (uint64_t cookie = number_of(session, "sock")) {
      *how = "socket";
      return next(by_cookie_, {cookie, proto});
    }
    if (uint64_t port = number_of(session, "peer_port"); port && proto == "udp") {
      // Without its cookie, a port with no redirect proves nothing: the session stays unresolved.
      const Event* r = next(by_port_, {port, proto});
      *how = r ? "socket (by its bound port)" : "";
      return r;
    }
    how->clear();
    return nullptr;
  }

 private:
  using Key = std::tuple<uint64_t, std::string>;
  using Index = std::map<Key, std::vector<const Event*>>;
  const Event* next(Index& index, const Key& key) {
    auto it = index.find(key);
    size_t& k = taken_[&index][key];
    return it == index.end() || k >= it->second.size() ? nullptr : it->second[k++];
  }
  Index by_cookie_, by_port_;
  std::map<const Index*, std::map<Key, size_t>> taken_;
};

}  // namespace

void attribute_sessions(Events& events, uint64_t* unattributed) {
  // One socket may send datagrams to several destinations: per socket, the hook's records and
  // the sessions the fake network saw are both in send order, so the k-th pairs with the k-th.
  RedirectsBySocket redirects(events);
  for (Event& e : events) {
    if (e.source != kSourceNet) continue;
    std::string how;
    const Event* r = redirects.take(e, &how);
    if (how.empty()) {
      e.data["attribution"] = "unresolved: the sending socket was gone before it could be identified";
      ++*unattributed;
      continue;
    }
    if (!r) {
      e.data["attribution"] = "direct: reached the fake network's own address";
      continue;
    }
    if (e.data.contains("port")) e.data["local_port"] = e.data["port"];
    e.data["dst"] = str_field(r->data, "orig_addr");
    e.data["port"] = r->data.value("orig_port", 0);
    e.data["attribution"] = how;
  }
}

MergeResult merge_sources(MergeInputs in) {
  MergeResult out;
  // Kernel events from before the harness was released are the jail building itself.
  std::erase_if(in.kernel, [&](const Event& e) { return e.t_ns < in.release_t_ns; });
  add_own_events(std::move(in.kernel), "tracer", 0, &out);
  add_python_events(in.python_lines, in.python_clock_offset_ns, &out);
  add_own_events(std::move(in.net), "fake network", in.net_clock_offset_ns, &out);
  sort_events(out.events);
  attribute_sessions(out.events, &out.unattributed_sessions);
  return out;
}

}  // namespace modelvet
