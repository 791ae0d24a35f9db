// The jail's pid 1: builds the view, drops every privilege, waits for "go", runs the harness as its child.
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
#include "sandbox/user.h"
#include "sandbox/uts.h"

namespace modelvet::sandbox {
namespace {

constexpr int kEventFd = 3;   // the harness writes its JSON lines here
constexpr int kStatusFd = 4;  // close-on-exec: EOF after "ready" means the exec succeeded
constexpr int kExeFd = 5;

// In the harness process: lay out the descriptors it expects, close every other one, exec.
[[noreturn]] void exec_harness(const ChildPlan& p, int status) {
  int devnull = open("/dev/null", O_RDONLY);
  if (devnull < 0) child_fail(status, fmt::format("open /dev/null: {}", strerror(errno)));
  // Every source is lifted above the target numbers first: a source already sitting on another
  // one's target would be overwritten (or dup3'd onto itself, EINVAL).
  auto lift = [&](int fd) {
    int high = fcntl(fd, F_DUPFD_CLOEXEC, 64);
    if (high < 0) child_fail(status, fmt::format("F_DUPFD: {}", strerror(errno)));
    return high;
  };
  int in = lift(devnull), out = lift(p.output_w), events = lift(p.event_w), st = lift(status), exe = lift(p.exe_fd);
  if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0 || dup2(events, kEventFd) < 0 ||
      dup3(st, kStatusFd, O_CLOEXEC) < 0 || dup3(exe, kExeFd, O_CLOEXEC) < 0)
    child_fail(st, fmt::format("dup2: {}", strerror(errno)));
  status = kStatusFd;
  if (syscall(SYS_close_range, kExeFd + 1, ~0U, 0) != 0) child_fail(status, "close_range");
  std::vector<char*> argv, envp;
  for (const auto& a : p.argv) argv.push_back(const_cast<char*>(a.c_str()));
  for (const auto& e : p.envp) envp.push_back(const_cast<char*>(e.c_str()));
  argv.push_back(nullptr);
  envp.push_back(nullptr);
  syscall(SYS_execveat, kExeFd, "", argv.data(), envp.data(), AT_EMPTY_PATH);
  child_fail(status, fmt::format("exec harness: {}", strerror(errno)));
}

// Hostname, view, rlimits, then the jail user with no capability: the order each step's
// privilege needs (the view needs CAP_SYS_ADMIN, the bounding set CAP_SETPCAP).
void build_jail(const ChildPlan& p, int status) {
  std::string error;
  if (!set_jail_hostname()) child_fail(status, "sethostname");
  if (!enter_rootfs(p.rootfs, &error)) child_fail(status, error);
  if (const char* failed = apply_rlimits(p.rootfs.limits)) child_fail(status, fmt::format("setrlimit {}: {}", failed, strerror(errno)));
  drop_bounding_set();
  if (const char* failed = become_jail_user(p.rootfs.uid, p.rootfs.gid, p.user_namespace)) child_fail(status, failed);
  if (!drop_capabilities()) child_fail(status, "drop capabilities");
  // The uid switch cleared the parent-death signal the bridge set: armed again, so the bridge's
  // death (it dies with the supervisor) kills this init, and with it the whole pid namespace.
  // Its reaper (bridge.cpp) kills this init by pidfd too, which covers the moment in between.
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) child_fail(status, "PR_SET_PDEATHSIG");
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
// init, reaps orphans, and mirrors the harness's end; its exit kills whatever is left.
[[noreturn]] void run_harness_as_child(const ChildPlan& p, int status) {
  pid_t harness = fork();
  if (harness < 0) child_fail(status, "fork harness");
  if (harness == 0) exec_harness(p, status);
  for (int fd : {status, p.go_r, p.event_w, p.output_w, p.exe_fd}) close(fd);
  while (true) {
    int wstatus = 0;
    pid_t done = wait(&wstatus);
    if (done < 0 && errno == EINTR) continue;
    if (done < 0) _exit(125);
    if (done == harness) _exit(WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus));
  }
}

}  // namespace

[[noreturn]] void jail_init(const ChildPlan& p) {
  const int status = p.status_w;
  close(p.handoff_w);
  build_jail(p, status);
  await_go(p, status);
  if (!p.seccomp->install()) child_fail(status, "seccomp");
  run_harness_as_child(p, status);
}

}  // namespace modelvet::sandbox
