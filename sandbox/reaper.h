#pragma once
// The jail's reaper: a small process beside the supervisor, on the host, that removes the jail
// when the supervisor dies (SIGKILL, the OOM killer). The bridge starts it before it joins the
// jail's cgroup or namespaces.
#include <sys/types.h>

#include <string>

namespace modelvet::sandbox {

// The argv[1] that makes the binary the reaper.
inline constexpr const char* kReaperMode = "__reaper";

// Whose jail it is: the staging dir (named after its supervisor), the supervisor by pid and start
// time (a recycled pid is not it), the bridge by pid.
struct ReaperArgs {
  std::string staging;
  bool user_namespace = false;
  pid_t supervisor = 0;
  unsigned long long supervisor_start = 0;
  pid_t bridge = 0;
};

// In the bridge: starts the reaper (a fresh exec of this binary, process/helper_mode.h: no copy
// of a zygote's page tables), its end of `lifeline_r` on the reaper's fd 3 (EOF once the bridge is
// gone; first the jail's init pid, as "pid N\n"). Returns its pid or -1.
pid_t start_reaper(const ReaperArgs& args, int lifeline_r);

// The reaper (a helper mode, process/helper_mode.h; argv: __reaper <staging> <0|1 rootless>
// <supervisor pid> <start ticks> <bridge pid>):
// waits for the supervisor's death or the bridge's end. On the supervisor's death it kills the
// bridge and init, removes the cgroups (as root) and the staging dir; after the bridge's end it
// waits (up to 2 minutes) for the supervisor to remove the staging dir, and exits.

}  // namespace modelvet::sandbox
