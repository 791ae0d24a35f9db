#pragma once
// Whether anything in the jail could still run code of the file's: the grace period exists for
// threads, timers, signals and processes the sample left behind, and where there are none it
// has nothing to wait for.
#include <sys/types.h>

#include <optional>
#include <set>

namespace modelvet::harness {

// What the check reads, opened before the file's code can run and read again in place (lseek
// to 0, then getdents or read): opening /proc, /proc/<pid>/stat or /proc/self/status during the
// grace would show in the trace as the sample's reads. The jail's processes are kept by pid:
// while a process lives its pid is its own, and reusing a pid that was alive before the load
// takes a wrap of pid_max (about 4 million forks) after it exited.
class QuiescenceCheck {
 public:
  // Snapshots the jail's live processes (the decoy session, the shell): none of them is the load's.
  QuiescenceCheck();
  ~QuiescenceCheck();
  QuiescenceCheck(const QuiescenceCheck&) = delete;
  QuiescenceCheck& operator=(const QuiescenceCheck&) = delete;

  // What could still run later, or nullptr when nothing could: another thread of this process, a
  // process of the jail alive and not there before the load (a fork, a setsid daemon; a child
  // of this process that exited and awaits its wait is no longer alive), an armed ITIMER_REAL or
  // POSIX timer, a pending signal. Anything unreadable counts as left.
  const char* left_to_run() const;

 private:
  pid_t owner_;
  int proc_dir_, task_dir_, timers_, status_;
  std::optional<std::set<pid_t>> before_load_;
};

}  // namespace modelvet::harness
