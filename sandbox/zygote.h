#pragma once
// A zygote (forkserver): one long-lived process per victim-library family that has started
// CPython and imported the family's libraries once, and forks each file's jail from that state
// instead of exec'ing a fresh harness that imports them again.
//
// Every file still gets a jail of its own, built exactly as run_jail builds one: the zygote's
// child is the jail's bridge (cgroup join, fresh namespaces, reaper, fake network), its pid 1
// builds the view, drops every privilege and loads the seccomp filter, and the harness it forks
// runs the file in the inherited interpreter. The zygote itself never reads a sample, holds no
// descriptor of any jail after the fork, and is invisible from inside (each jail's pid and
// mount namespaces are nested below it; no capability, seccomp); the supervisor replaces a zygote that died
// or misbehaves, never repairs it.
#include <sys/types.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "sandbox/jail_child.h"

namespace modelvet::sandbox {

// Runs the harness in a forked jail process, given the argv and environment exec would have had.
using InProcessHarness = std::function<int(const std::vector<std::string>& argv, const std::vector<std::string>& envp)>;

class Zygote {
 public:
  // Starts `argv` (argv[0] the executable) with the control socket on fd 3; it must call
  // serve_zygote(3, ...) once ready. The name says which family it serves.
  static std::unique_ptr<Zygote> exec(const std::string& name, const std::vector<std::string>& argv, std::string* error);
  ~Zygote();  // SIGKILL through its pidfd, then reaped
  Zygote(const Zygote&) = delete;
  Zygote& operator=(const Zygote&) = delete;

  // Asks for a bridge for this plan; the plan's descriptors are passed, not kept. Returns the
  // bridge's host pid, or -1 with *error (the zygote is then no longer healthy()). Thread-safe.
  pid_t spawn_bridge(const ChildPlan& plan, std::string* error);
  // False once it died, failed a request, or answered out of protocol: replace it.
  bool healthy() const;
  pid_t pid() const { return pid_; }
  const std::string& name() const { return name_; }
  int jails_forked() const { return forked_; }

 private:
  Zygote(std::string name, pid_t pid, int control);
  bool await_hello(std::string* error);

  std::string name_;
  pid_t pid_ = -1;
  int pidfd_ = -1;
  int control_ = -1;
  mutable std::mutex mu_;
  bool broken_ = false;
  int forked_ = 0;
};

// The zygote's side: announces itself on control_fd, then forks one bridge per request until
// the control socket closes (or the supervisor dies: it dies with it). Never returns.
[[noreturn]] void serve_zygote(int control_fd, const InProcessHarness& harness);

}  // namespace modelvet::sandbox
