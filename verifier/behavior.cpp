#include "verifier/behavior.h"

#include <fcntl.h>

#include <map>

namespace modelvet {
namespace {

// System locations every Python load reads; listing them would bury what matters.
bool is_system_read(const std::string& path) {
  for (const char* prefix : {"/usr/", "/lib", "/etc/ld.so", "/proc/self/", "/proc/thread-self/", "/sys/", "/dev/",
                             "/etc/localtime", "/etc/python3", "/etc/mime.types", "/etc/nsswitch.conf", "/etc/passwd",
                             "/etc/group", "/etc/hosts", "/etc/resolv.conf", "/proc/cpuinfo", "/proc/meminfo",
                             "/proc/stat"})
    if (path.rfind(prefix, 0) == 0) return true;
  return path.empty() || path == "/" || path == ".";
}

bool opens_for_write(const nlohmann::json& data) {
  int flags = data.value("flags", 0);
  return (flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC)) != 0;
}

void add_unique(nlohmann::json& list, const std::string& value, size_t cap = 200) {
  for (const auto& v : list)
    if (v == value) return;
  if (list.size() < cap) list.push_back(value);
}

}  // namespace

std::string tilde_path(const std::string& path, const std::string& home) {
  if (path == home) return "~";
  if (path.rfind(home + "/", 0) == 0) return "~" + path.substr(home.size());
  return path;
}

nlohmann::json summarize_behavior(const Events& events, const BehaviorContext& ctx) {
  nlohmann::json processes = nlohmann::json::array(), network = nlohmann::json::array(),
                 dns = nlohmann::json::array(), read = nlohmann::json::array(), written = nlohmann::json::array(),
                 deleted = nlohmann::json::array(), decoys = nlohmann::json::array();
  std::vector<const Event*> fake_tcp;  // fake-network sessions, paired with kernel connects in order
  for (const Event& e : events)
    if (e.source == kSourceNet && (e.kind == kinds::kTcpConnect || e.kind == kinds::kHttp)) fake_tcp.push_back(&e);
  size_t next_tcp = 0;

  for (const Event& e : events) {
    if (e.t_ns < ctx.from_t_ns) continue;
    const auto& d = e.data;
    if (e.source == kSourceKernel && e.kind == kinds::kExec) {
      if (processes.size() < 100)
        processes.push_back({{"pid", e.pid}, {"ppid", d.value("ppid", 0)}, {"argv", d.value("argv", nlohmann::json::array())}});
    } else if (e.source == kSourceKernel && (e.kind == kinds::kConnect || e.kind == kinds::kSendto)) {
      std::string family = str_field(d, "family");
      if (family != "inet" && family != "inet6") continue;
      nlohmann::json conn = {{"proto", d.value("proto", e.kind == kinds::kSendto ? "udp" : "tcp")},
                             {"dst", str_field(d, "addr")}, {"port", d.value("port", 0)}};
      if (conn["proto"] == "tcp" && next_tcp < fake_tcp.size()) {
        const Event* seen = fake_tcp[next_tcp++];
        conn["sent_bytes"] = seen->data.value("sent_bytes", 0);
        conn["sent_preview"] = str_field(seen->data, "sent_preview");
      }
      if (network.size() < 100) network.push_back(conn);
    } else if (e.source == kSourceNet && e.kind == kinds::kDns) {
      nlohmann::json q = {{"name", str_field(d, "name")}, {"type", str_field(d, "type")}};
      if (std::find(dns.begin(), dns.end(), q) == dns.end() && dns.size() < 100) dns.push_back(q);
    } else if (e.source == kSourceKernel && e.kind == kinds::kOpen) {
      std::string path = d.value("resolved", str_field(d, "path"));
      if (ctx.decoy_files.count(path)) add_unique(decoys, tilde_path(path, ctx.home));
      if (opens_for_write(d)) {
        if (path.rfind("/dev/", 0) != 0) add_unique(written, tilde_path(path, ctx.home));
      } else if (!is_system_read(path)) {
        add_unique(read, tilde_path(path, ctx.home));
      }
    } else if (e.source == kSourceKernel && (e.kind == kinds::kUnlink || e.kind == kinds::kRename)) {
      add_unique(deleted, tilde_path(str_field(d, "path"), ctx.home));
    }
  }
  return {{"processes", processes},
          {"network", network},
          {"dns", dns},
          {"files", {{"read", read}, {"written", written}, {"deleted", deleted}}},
          {"decoys_touched", decoys}};
}

}  // namespace modelvet
