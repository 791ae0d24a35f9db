#pragma once
// The jail's process tree as a workstation's: pid 1 is `systemd --user`, a desktop session's
// processes sleep beside it with the pid numbers of a machine up for a while, and the harness
// is started by a `bash` at a high pid. Runs in pid 1 while it still holds its capabilities in
// the jail's pid namespace (pre-advancing /proc/sys/kernel/ns_last_pid needs CAP_SYS_ADMIN or
// CAP_CHECKPOINT_RESTORE over it, which a rootless jail's own user namespace gives too).
#include <sys/types.h>

#include <string>
#include <vector>

#include "sandbox/jail_child.h"

namespace modelvet::sandbox {

struct Session {
  int tmux_pid = 0;              // the decoy tmux server (the TMUX variable names it)
  int shell_pid = 0;             // where the loader's parent shell will be forked (0: unknown)
  bool pids_advanced = false;    // ns_last_pid was writable
  std::vector<std::string> env;  // the session's variables, for the harness
};

// In pid 1 after the view is built, before the uid switch: titles pid 1, has the decoy session
// processes forked (each drops to the jail user with no capability, non-dumpable, under the
// jail's seccomp filter, holding no descriptor, and sleeps until the jail dies), and sets the
// pid the loader's shell will get. Only fork, exec and prctl: nothing here can fail the jail.
Session start_session(const ChildPlan& p);

// The argv[1] that makes the harness binary the decoys' spawner (start_session execs it so the
// decoys are forked from a small process, not from a zygote's pid 1; when it cannot run,
// start_session forks them itself).
inline constexpr const char* kSessionSpawnerMode = "__session";

// The spawner (a helper mode, process/helper_mode.h; argv: __session <uid> <gid> <0|1 rootless>
// <pid>...): forks each decoy at its pid as a child of the jail's pid 1 (CLONE_PARENT), under the
// jail's seccomp filter, and exits 0; the decoys live on after it.

// The loader's parent shell, forked by pid 1 after "go": titles itself `bash`, moves into its
// terminal's cgroup (`cgroup_procs`, from enter_session_cgroups; -1: stays), forks `start`
// (which execs the harness), closes `close_fds`, and exits as the harness did (its exit code, or
// 128 + the signal that killed it, the numbers pid 1 passes on).
[[noreturn]] void run_loader_shell(const std::vector<std::string>& env, const std::vector<int>& close_fds,
                                   void (*start)(const void*), const void* arg, int status_fd, int cgroup_procs);

}  // namespace modelvet::sandbox
