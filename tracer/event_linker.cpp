#include "tracer/event_linker.h"

#include <algorithm>
#include <string>
#include <unordered_map>

namespace modelvet::tracer {
namespace {

using FdTable = std::unordered_map<int, std::string>;

class Linker {
 public:
  // Returns false when the event is internal and must be dropped.
  bool apply(Event& e) {
    auto& d = e.data;
    FdTable& fds = fd_tables_[e.pid];
    if (e.kind == kinds::kOpen || e.kind == kinds::kMemfdCreate) {
      int64_t fd = d.value("ret", int64_t{-1});
      if (fd >= 0) fds[static_cast<int>(fd)] = e.kind == kinds::kOpen ? d.value("path", "") : std::string("memfd:").append(d.value("name", ""));
    } else if (e.kind == "_close") {
      fds.erase(d.value("fd", -1));
      return false;
    } else if (e.kind == "_dup") {
      auto it = fds.find(d.value("fd", -1));
      if (it != fds.end()) fds[d.value("new_fd", -1)] = it->second;
      else fds.erase(d.value("new_fd", -1));
      return false;
    } else if (e.kind == kinds::kFork) {
      fd_tables_[d.value("child_pid", 0)] = fds;  // the child starts with a copy of the table
    } else if (e.kind == kinds::kWrite || e.kind == kinds::kMmapExec) {
      auto it = fds.find(d.value("fd", -1));
      if (it != fds.end() && !d.contains("path")) d["path"] = it->second;  // a folded fd's is set already
    }
    return true;
  }

 private:
  std::unordered_map<int, FdTable> fd_tables_;
};

}  // namespace

Events link_events(Events raw) {
  std::stable_sort(raw.begin(), raw.end(), [](const Event& a, const Event& b) { return a.t_ns < b.t_ns; });
  Events out;
  out.reserve(raw.size());
  Linker linker;
  for (Event& e : raw) {
    if (linker.apply(e)) out.push_back(std::move(e));
  }
  return out;
}

}  // namespace modelvet::tracer
