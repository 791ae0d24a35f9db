#include "policies/event_fields.h"

#include <algorithm>
#include <map>
#include <set>

namespace modelvet::policy {
namespace {

struct KindFields {
  std::string source;
  std::set<std::string> fields;
};

// Fields every event view has, and every kernel event may have. "paths" (file kinds) is
// derived by the engine: the event's path and new_path, made absolute and normalised.
const std::set<std::string> kCommon = {"pid", "t_ns"};
const std::set<std::string> kKernelCommon = {"tid", "comm", "ret", "syscall", "nr"};

const std::multimap<std::string, KindFields>& table() {
  static const std::multimap<std::string, KindFields> t = {
      {"exec", {"kernel", {"filename", "argv", "ppid", "truncated", "dirfd", "paths"}}},
      {"fork", {"kernel", {"child_pid", "ppid"}}},
      {"exit", {"kernel", {"code", "signal"}}},
      {"open", {"kernel", {"path", "resolved", "paths", "dirfd", "flags", "flags_str"}}},
      {"unlink", {"kernel", {"path", "resolved", "paths", "dirfd", "dir"}}},
      {"mkdir", {"kernel", {"path", "resolved", "paths", "dirfd", "mode"}}},
      {"rename", {"kernel", {"path", "resolved", "paths", "dirfd", "new_path"}}},
      {"link", {"kernel", {"path", "resolved", "paths", "dirfd", "new_path"}}},
      {"chmod", {"kernel", {"path", "resolved", "paths", "dirfd", "mode", "fd"}}},
      {"write", {"kernel", {"path", "resolved", "paths", "dirfd", "fd", "bytes"}}},
      {"connect", {"kernel", {"family", "addr", "port", "proto", "fd", "type", "path"}}},
      {"sendto", {"kernel", {"family", "addr", "port", "proto", "fd", "bytes", "type", "path"}}},
      {"bind", {"kernel", {"family", "addr", "port", "proto", "fd", "type", "path"}}},
      {"listen", {"kernel", {"family", "addr", "port", "proto", "fd", "backlog", "type"}}},
      {"socket", {"kernel", {"family", "type", "protocol"}}},
      {"net_redirect", {"kernel", {"hook", "family", "orig_addr", "orig_port", "proto", "redirected", "to_port", "sock", "src_port"}}},
      {"mmap_exec", {"kernel", {"path", "resolved", "paths", "dirfd", "fd", "prot", "len", "anonymous"}}},
      {"memfd_create", {"kernel", {"name", "flags"}}},
      {"ptrace", {"kernel", {"request", "target_pid"}}},
      {"kill", {"kernel", {"target_pid", "sig", "target_in_jail"}}},
      {"syscall_attempt", {"kernel", {"args", "path", "path2", "mount_source"}}},
      {"denied", {"kernel", {"args", "path", "path2", "mount_source"}}},
      {"limit", {"kernel", {"resource", "value", "limit", "detail"}}},
      {"phase", {"python", {"name", "model", "loader", "format", "ms", "audit", "time_warp"}}},
      {"call", {"python", {"callable", "args", "origin", "member", "kwargs"}}},
      {"audit", {"python", {"event", "args", "caller", "path", "write", "import_machinery"}}},
      {"stub", {"python", {"module", "name", "reason", "offset", "member"}}},
      {"load", {"python", {"status", "exception", "type", "loader", "library_version", "members", "calls_recorded",
                           "calls_truncated", "calls_repeated", "stubs"}}},
      {"exercise", {"python", {"target", "type", "items_touched", "actions", "errors", "error"}}},
      {"time_warp", {"python", {"accelerated", "longest_real_sleep_ms"}}},
      {"harness_error", {"python", {"message"}}},
      {"tamper", {"python", {"what", "target", "detail"}}},
      {"tcp_connect", {"net", {"dst", "port", "sent_bytes", "sent_preview", "peer", "peer_port", "local_port", "sock", "attribution"}}},
      {"udp", {"net", {"dst", "port", "bytes", "preview", "peer", "peer_port", "sock", "attribution"}}},
      {"dns", {"net", {"name", "type", "dst", "port", "peer_port", "sock", "attribution"}}},
      {"http", {"net", {"method", "host", "path", "preview", "dst", "port", "sent_bytes", "sent_preview", "peer",
                        "local_port", "sock", "attribution"}}},
  };
  return t;
}

bool kind_has(const KindFields& k, const std::string& field) {
  return kCommon.count(field) || k.fields.count(field) || (k.source == "kernel" && kKernelCommon.count(field));
}

}  // namespace

bool is_known_kind(const std::string& kind) { return table().count(kind) > 0; }

std::vector<std::pair<std::string, std::string>> described_kinds() {
  std::vector<std::pair<std::string, std::string>> kinds;
  for (const auto& [kind, k] : table()) kinds.emplace_back(k.source, kind);
  return kinds;
}

bool field_known_for(const std::string& field, const std::vector<std::string>& sources,
                     const std::vector<std::string>& kinds) {
  for (const auto& kind : kinds) {
    auto [begin, end] = table().equal_range(kind);
    for (auto it = begin; it != end; ++it) {
      bool source_ok = sources.empty() || std::find(sources.begin(), sources.end(), it->second.source) != sources.end();
      if (source_ok && kind_has(it->second, field)) return true;
    }
  }
  return false;
}

}  // namespace modelvet::policy
