#pragma once
// Whether a syscall entered the kernel, counted by its sys_enter tracepoint over a process and
// every process it forks from then on (perf, inherited counters). seccomp refuses a call before
// that tracepoint, so a call the filter denied is never counted and one that reached the kernel
// (and was refused there, by a capability check say) is: the jail tests tell the two apart with
// it where the errno cannot. Needs root and tracefs; rootless, open() finds nothing to count.
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <string>

namespace modelvet::testing {

class SysEnterCounters {
 public:
  SysEnterCounters() = default;
  SysEnterCounters(const SysEnterCounters&) = delete;
  SysEnterCounters& operator=(const SysEnterCounters&) = delete;
  ~SysEnterCounters() {
    for (auto& [_, fd] : fds_) close(fd);
  }

  // One counter per name that has a tracepoint (ftrace's name: `umount` for umount2); false
  // when none could be opened (not root, no tracefs): there is then no witness.
  bool open(pid_t pid, const std::set<std::string>& names) {
    for (const std::string& name : names) {
      std::ifstream id_file("/sys/kernel/tracing/events/syscalls/sys_enter_" + name + "/id");
      uint64_t id = 0;
      if (!(id_file >> id)) continue;  // no tracepoint (the call is gone, or not traced)
      perf_event_attr a{};
      a.type = PERF_TYPE_TRACEPOINT;
      a.size = sizeof a;
      a.config = id;
      a.inherit = 1;  // the children forked after this (the jail's harness and its own)
      int fd = int(syscall(SYS_perf_event_open, &a, pid, -1, -1, PERF_FLAG_FD_CLOEXEC));
      if (fd >= 0) fds_[name] = fd;
    }
    return !fds_.empty();
  }

  // How often `name` entered the kernel so far; nullopt when it has no counter.
  std::optional<uint64_t> count(const std::string& name) const {
    auto it = fds_.find(name);
    uint64_t n = 0;
    if (it == fds_.end() || read(it->second, &n, sizeof n) != sizeof n) return std::nullopt;
    return n;
  }

 private:
  std::map<std::string, int> fds_;
};

}  // namespace modelvet::testing
