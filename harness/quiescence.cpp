#include "harness/quiescence.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

namespace modelvet::harness {
namespace {

// Raw openat: the libc open the time warp interposes (for /proc/uptime) stays out of it.
int open_proc(const char* path, int flags) {
  return static_cast<int>(syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC | flags));
}

// The file behind fd read again from its start (procfs regenerates it).
std::optional<std::string> reread(int fd) {
  if (fd < 0 || lseek(fd, 0, SEEK_SET) != 0) return std::nullopt;
  std::string out;
  char buf[4096];
  ssize_t n;
  while (out.size() < 65536 && (n = read(fd, buf, sizeof buf)) > 0) out.append(buf, size_t(n));
  if (n < 0) return std::nullopt;
  return out;
}

// The numeric names in the directory behind fd, listed again from its start; nullopt if unreadable.
std::optional<std::set<pid_t>> relist(int fd) {
  if (fd < 0 || lseek(fd, 0, SEEK_SET) != 0) return std::nullopt;
  std::set<pid_t> ids;
  alignas(8) char buf[8192];
  for (;;) {
    long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
    if (n < 0) return std::nullopt;
    if (n == 0) return ids;
    for (long at = 0; at < n;) {
      auto* e = reinterpret_cast<const struct dirent64*>(buf + at);
      char* end = nullptr;
      long id = std::strtol(e->d_name, &end, 10);
      if (id > 0 && *end == '\0') ids.insert(static_cast<pid_t>(id));
      at += e->d_reclen;
    }
  }
}

// A child of this process that has exited and awaits its wait: it runs nothing.
bool exited_child(pid_t pid) {
  siginfo_t info{};
  return waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid;
}

}  // namespace

QuiescenceCheck::QuiescenceCheck()
    : owner_(getpid()),
      proc_dir_(open_proc("/proc", O_DIRECTORY)),
      task_dir_(open_proc("/proc/self/task", O_DIRECTORY)),
      timers_(open_proc("/proc/self/timers", 0)),  // POSIX timers (timer_create)
      status_(open_proc("/proc/self/status", 0)) {
  before_load_ = relist(proc_dir_);
}

QuiescenceCheck::~QuiescenceCheck() {
  for (int fd : {proc_dir_, task_dir_, timers_, status_})
    if (fd >= 0) close(fd);
}

const char* QuiescenceCheck::left_to_run() const {
  // A fork of the harness that carried on with the load reads its parent's files here.
  if (getpid() != owner_) return "a forked copy of the harness";
  if (!before_load_) return "a harness that could not list the jail's processes";
  auto threads = relist(task_dir_);
  if (!threads || threads->size() != 1) return "another thread";
  itimerval real{};
  // The kernel's own ITIMER_REAL (a raw setitimer bypasses the warp's virtual one, which has a
  // helper thread and so already fails the thread check).
  if (syscall(SYS_getitimer, ITIMER_REAL, &real) != 0 || real.it_value.tv_sec != 0 || real.it_value.tv_usec != 0)
    return "an armed timer";
  auto timers = reread(timers_);
  if (!timers || !timers->empty()) return "an armed timer";
  auto status = reread(status_);
  if (!status) return "a pending signal";
  for (const char* field : {"\nSigPnd:\t", "\nShdPnd:\t"}) {
    size_t at = status->find(field);
    if (at == std::string::npos || std::strtoull(status->c_str() + at + std::strlen(field), nullptr, 16) != 0)
      return "a pending signal";
  }
  auto now = relist(proc_dir_);
  if (!now) return "a process list that could not be read";
  for (pid_t pid : *now)
    if (pid != owner_ && !before_load_->count(pid) && !exited_child(pid)) return "a process started by the load";
  return nullptr;
}

}  // namespace modelvet::harness
