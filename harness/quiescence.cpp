#include "harness/quiescence.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

#include "sandbox/proc_stat.h"

namespace modelvet::harness {
namespace {

// A raw openat: the libc open the time warp interposes (for /proc/uptime) stays out of it.
std::optional<std::string> read_small(const char* path) {
  int fd = static_cast<int>(syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC));
  if (fd < 0) return std::nullopt;
  std::string out;
  char buf[4096];
  ssize_t n;
  while (out.size() < 65536 && (n = read(fd, buf, sizeof buf)) > 0) out.append(buf, size_t(n));
  close(fd);
  if (n < 0) return std::nullopt;
  return out;
}

bool single_threaded() {
  DIR* d = opendir("/proc/self/task");
  if (!d) return false;
  int threads = 0;
  while (dirent* e = readdir(d))
    if (e->d_name[0] != '.') ++threads;
  closedir(d);
  return threads == 1;
}

// Every live process of the jail but this one (a zombie runs nothing); nullopt if /proc is unreadable.
std::optional<ProcessSet> live_processes() {
  DIR* d = opendir("/proc");
  if (!d) return std::nullopt;
  const pid_t self = getpid();
  ProcessSet live;
  while (dirent* e = readdir(d)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end != '\0' || pid == self) continue;
    auto st = sandbox::read_proc_stat(std::string("/proc/") + e->d_name + "/stat");
    if (!st || st->state == 'Z' || st->state == 'X') continue;  // gone between readdir and read, or dead
    live.emplace(static_cast<pid_t>(pid), st->start_ticks);
  }
  closedir(d);
  return live;
}

bool timer_armed() {
  itimerval real{};
  // The kernel's own ITIMER_REAL (a raw setitimer bypasses the warp's virtual one, which has a
  // helper thread and so already fails single_threaded).
  if (syscall(SYS_getitimer, ITIMER_REAL, &real) != 0) return true;
  if (real.it_value.tv_sec != 0 || real.it_value.tv_usec != 0) return true;
  auto timers = read_small("/proc/self/timers");  // POSIX timers (timer_create)
  return !timers || !timers->empty();
}

bool signal_pending() {
  auto status = read_small("/proc/self/status");
  if (!status) return true;
  for (const char* field : {"\nSigPnd:\t", "\nShdPnd:\t"}) {
    size_t at = status->find(field);
    if (at == std::string::npos) return true;
    if (std::strtoull(status->c_str() + at + std::strlen(field), nullptr, 16) != 0) return true;
  }
  return false;
}

}  // namespace

std::optional<ProcessSet> processes_before_load() { return live_processes(); }

const char* left_to_run(const std::optional<ProcessSet>& before_load) {
  if (!before_load) return "a harness that could not list the jail's processes";
  if (!single_threaded()) return "another thread";
  if (timer_armed()) return "an armed timer";
  if (signal_pending()) return "a pending signal";
  auto now = live_processes();
  if (!now) return "a process list that could not be read";
  for (const auto& p : *now)
    if (!before_load->count(p)) return "a process started by the load";
  return nullptr;
}

}  // namespace modelvet::harness
