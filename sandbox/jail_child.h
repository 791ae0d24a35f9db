#pragma once
// The jail's side of the fork: the plan it is given, the bridge process and the jail's pid 1.
#include <sys/types.h>
#include <unistd.h>

#include <functional>
#include <string>
#include <vector>

#include "sandbox/cgroup.h"
#include "sandbox/rootfs.h"
#include "sandbox/seccomp_filter.h"

namespace modelvet::sandbox {

// Everything the jail's first processes need, computed before fork so the children only copy.
struct ChildPlan {
  RootfsPlan rootfs;
  const SeccompProgram* seccomp;
  std::vector<std::string> argv, envp;
  int exe_fd, event_w, output_w, status_w, go_r;
  int handoff_w;               // unix socket: the fake network's sockets go out through it
  bool user_namespace;         // rootless
  uid_t host_uid;              // what the jail user maps to, rootless
  gid_t host_gid;
  const JailCgroup* cgroup;    // root only
  const V1Limits* v1;
  // Forked by a zygote (sandbox/zygote.h) instead of the supervisor: the bridge's parent is the
  // zygote, its exit code goes out on exit_w (the supervisor cannot wait for a grandchild), and
  // the harness is not exec'd but run in the already-initialised process by in_process_harness.
  pid_t zygote = 0;
  int exit_w = -1;
  std::function<int(const std::vector<std::string>& argv, const std::vector<std::string>& envp)> in_process_harness;
};

// Child side: report a failed step to the supervisor ("error <step>") and die. Only write()
// and _exit(), so it is safe anywhere between fork and exec.
[[noreturn]] inline void child_fail(int status_fd, const std::string& what) {
  std::string msg = "error " + what + "\n";
  (void)!write(status_fd, msg.data(), msg.size());
  _exit(127);
}

// The bridge, exec'd by the supervisor (sandbox/exec_bridge.h) or forked by a zygote: joins
// the cgroups (root) or creates a user namespace (rootless), unshares, forks the jail's pid 1,
// reports "pid <host pid>", hands the fake network's sockets out, and mirrors the init's exit status (exit code, or 128+signal).
[[noreturn]] void jail_bridge(const ChildPlan& p);

// The jail's pid 1: builds the view, drops everything, reports "ready", waits for "go",
// then forks the harness, reaps, and mirrors the harness's end.
[[noreturn]] void jail_init(const ChildPlan& p);

}  // namespace modelvet::sandbox
