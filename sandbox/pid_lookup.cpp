#include "sandbox/pid_lookup.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace modelvet::sandbox {
namespace {

constexpr size_t kMaxVisited = 65536;  // a fork flood's tree is walked this far at most

// The pid the innermost namespace gives /proc/<pid>, or 0.
pid_t innermost_pid(const std::string& proc) {
  std::ifstream status(proc + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("NSpid:", 0) != 0) continue;
    std::istringstream fields(line.substr(6));
    long last = 0, v;
    while (fields >> v) last = v;  // the innermost namespace's number comes last
    return static_cast<pid_t>(last);
  }
  return 0;
}

// Every pid of the host whose namespace is `pidns_inode`: the walk where the kernel has no
// children files (CONFIG_PROC_CHILDREN).
pid_t host_pid_by_scan(uint64_t pidns_inode, pid_t ns_pid) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    struct stat ns{};
    if (stat((entry.path() / "ns/pid").c_str(), &ns) != 0 || ns.st_ino != pidns_inode) continue;
    if (innermost_pid(entry.path().string()) == ns_pid) return static_cast<pid_t>(std::atol(name.c_str()));
  }
  return 0;
}

}  // namespace

pid_t host_pid_of(pid_t init_host_pid, uint64_t pidns_inode, pid_t ns_pid) {
  const std::string init_children = "/proc/" + std::to_string(init_host_pid) + "/task/" + std::to_string(init_host_pid) + "/children";
  struct stat st{};
  if (stat(init_children.c_str(), &st) != 0 && errno == ENOENT && stat(("/proc/" + std::to_string(init_host_pid)).c_str(), &st) == 0)
    return host_pid_by_scan(pidns_inode, ns_pid);
  std::deque<pid_t> todo{init_host_pid};
  for (size_t visited = 0; !todo.empty() && visited < kMaxVisited; ++visited) {
    const pid_t pid = todo.front();
    todo.pop_front();
    const std::string proc = "/proc/" + std::to_string(pid);
    struct stat ns{};
    if (stat((proc + "/ns/pid").c_str(), &ns) != 0 || ns.st_ino != pidns_inode) continue;  // gone, or recycled
    if (innermost_pid(proc) == ns_pid) return pid;
    std::error_code ec;
    for (const auto& task : std::filesystem::directory_iterator(proc + "/task", ec)) {
      std::ifstream children(task.path() / "children");
      for (long child; children >> child;) todo.push_back(static_cast<pid_t>(child));
    }
  }
  return 0;
}

}  // namespace modelvet::sandbox
