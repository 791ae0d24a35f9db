// The jail's pid 1: builds the view and the session, drops every privilege, waits for "go", runs the
// harness under a shell.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstring>

#include <fmt/core.h>

#include "sandbox/caps.h"
#include "sandbox/jail_child.h"
#include "sandbox/limits.h"
#include "sandbox/session_tree.h"
#include "sandbox/user.h"
#include "sandbox/uts.h"
#include "sandbox/workstation.h"

namespace modelvet::sandbox {
namespace {

constexpr int kEventFd = 3;   // the harness writes its JSON lines here
constexpr int kStatusFd = 4;  // close-on-exec: EOF after "ready" means the exec succeeded
constexpr int kExeFd = 5;

// What the harness is started with: the plan's argv with the argv[0] a shell gives `python3`, the
// plan's environment with the desktop session's, its executable as the jail sees it (kLoaderPath).
struct HarnessStart {
  const ChildPlan* plan;
  int status;
  std::vector<std::string> argv, envp;
};

// In the harness process: lay out the descriptors it expects and close every other one.
// Returns the status descriptor, now kStatusFd (close-on-exec).
int lay_out_harness_fds(const ChildPlan& p, int status) {
  int devnull = open("/dev/null", O_RDONLY);
  if (devnull < 0) child_fail(status, fmt::format("open /dev/null: {}", strerror(errno)));
  // Every source is lifted above the target numbers first: a source already sitting on another
  // one's target would be overwritten (or dup3'd onto itself, EINVAL).
  auto lift = [&](int fd) {
    int high = fcntl(fd, F_DUPFD_CLOEXEC, 64);
    if (high < 0) child_fail(status, fmt::format("F_DUPFD: {}", strerror(errno)));
    return high;
  };
  int loader = open(kLoaderPath, O_PATH | O_CLOEXEC);
  if (loader < 0) child_fail(status, fmt::format("open {}: {}", kLoaderPath, strerror(errno)));
  int in = lift(devnull), out = lift(p.output_w), events = lift(p.event_w), st = lift(status), exe = lift(loader);
  if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0 || dup2(events, kEventFd) < 0 ||
      dup3(st, kStatusFd, O_CLOEXEC) < 0 || dup3(exe, kExeFd, O_CLOEXEC) < 0)
    child_fail(st, fmt::format("dup2: {}", strerror(errno)));
  if (syscall(SYS_close_range, kExeFd + 1, ~0U, 0) != 0) child_fail(kStatusFd, "close_range");
  return kStatusFd;
}

// A fresh harness: exec'd, so its status descriptor closes exactly when the exec succeeded.
[[noreturn]] void exec_harness(const HarnessStart& h) {
  int status = lay_out_harness_fds(*h.plan, h.status);
  std::vector<char*> argv, envp;
  for (const auto& a : h.argv) argv.push_back(const_cast<char*>(a.c_str()));
  for (const auto& e : h.envp) envp.push_back(const_cast<char*>(e.c_str()));
  argv.push_back(nullptr);
  envp.push_back(nullptr);
  // By path, so comm and /proc/<pid>/exe say python3; lay_out_harness_fds proved it is there.
  execve(kLoaderPath, argv.data(), envp.data());
  child_fail(status, fmt::format("exec harness: {}", strerror(errno)));
}

// Forked from a zygote: the interpreter is already here. The same descriptors, the status one
// closed where exec would have closed it, and the environment exec would have set.
[[noreturn]] void run_harness_in_process(const HarnessStart& h) {
  const ChildPlan& p = *h.plan;
  int status = lay_out_harness_fds(p, h.status);
  close(status);
  close(kExeFd);
  clearenv();
  for (const auto& e : h.envp) putenv(const_cast<char*>(e.c_str()));
  _exit(p.in_process_harness(h.argv, h.envp));
}

[[noreturn]] void start_harness(const void* arg) {
  const auto& h = *static_cast<const HarnessStart*>(arg);
  if (h.plan->in_process_harness) run_harness_in_process(h);
  exec_harness(h);
}

// Hostname, view, rlimits, then the jail user with no capability: the order each step's
// privilege needs (the view needs CAP_SYS_ADMIN, the bounding set CAP_SETPCAP).
Session build_jail(const ChildPlan& p, int status) {
  std::string error;
  if (!set_jail_hostname()) child_fail(status, "sethostname");
  RootfsPlan view = p.rootfs;
  view.exe_fd = p.exe_fd;
  if (!enter_rootfs(view, &error)) child_fail(status, error);
  if (const char* failed = apply_rlimits(p.rootfs.limits)) child_fail(status, fmt::format("setrlimit {}: {}", failed, strerror(errno)));
  Session session = start_session(p);
  drop_bounding_set();
  if (const char* failed = become_jail_user(p.rootfs.uid, p.rootfs.gid, p.user_namespace)) child_fail(status, failed);
  if (!drop_capabilities()) child_fail(status, "drop capabilities");
  // The uid switch cleared the parent-death signal the bridge set: armed again, so the bridge's
  // death (it dies with the supervisor) kills this init, and with it the whole pid namespace.
  // Its reaper (bridge.cpp) kills this init by pidfd too, which covers the moment in between.
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) child_fail(status, "PR_SET_PDEATHSIG");
  return session;
}

// Blocks until the supervisor has checked the jail and attached its observers.
void await_go(const ChildPlan& p, int status) {
  (void)!write(status, "ready\n", 6);
  char go = 0;
  if (read(p.go_r, &go, 1) != 1 || go != 'G') _exit(126);  // supervisor gave up: run nothing
  // Only now: an unprivileged supervisor's ptrace needs this process dumpable to attach, and it
  // has attached. From here on the loaded code can neither trace nor read its init.
  if (prctl(PR_SET_DUMPABLE, 0) != 0) child_fail(status, "PR_SET_DUMPABLE");
}

// The loaded code must not be pid 1: init ignores default-action signals (so SIGXCPU would not
// stop it) and a sample could spot the sandbox by its pid. This process stays as the jail's
// init, reaps orphans, and mirrors the end of the loader's shell (which mirrors the harness's);
// its exit kills whatever is left, the session's decoy processes included.
[[noreturn]] void run_harness_as_child(const ChildPlan& p, int status, const Session& session, int shell_cgroup) {
  HarnessStart start{&p, status, p.argv, session.env};
  if (!start.argv.empty()) start.argv[0] = "python3";
  const std::vector<int> jail_fds = {status, p.go_r, p.event_w, p.output_w, p.exe_fd};
  pid_t shell = fork();
  if (shell < 0) child_fail(status, "fork shell");
  if (shell == 0)
    run_loader_shell(session.env, jail_fds, start_harness, &start, status, shell_cgroup);
  for (int fd : jail_fds) close(fd);
  if (shell_cgroup >= 0) close(shell_cgroup);
  while (true) {
    int wstatus = 0;
    pid_t done = wait(&wstatus);
    if (done < 0 && errno == EINTR) continue;
    if (done < 0) _exit(125);
    if (done == shell) _exit(WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus));
  }
}

}  // namespace

[[noreturn]] void jail_init(const ChildPlan& p) {
  const int status = p.status_w;
  close(p.handoff_w);
  if (p.exit_w >= 0) close(p.exit_w);  // the bridge's alone
  // While the host's cgroup2 mount is still in view (before the pivot) and this process is root.
  const int shell_cgroup =
      p.user_namespace || !p.cgroup ? -1 : enter_session_cgroups(p.cgroup->path(), static_cast<int>(p.rootfs.uid));
  const Session session = build_jail(p, status);
  await_go(p, status);
  if (!p.seccomp->install()) child_fail(status, "seccomp");
  run_harness_as_child(p, status, session, shell_cgroup);
}

}  // namespace modelvet::sandbox
