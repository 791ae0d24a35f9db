// The bridge process: puts the jail in its namespaces, forks its pid 1, hands the fake network out.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <fmt/core.h>

#include "sandbox/fake_net.h"
#include "sandbox/fd_passing.h"
#include "sandbox/jail_child.h"
#include "sandbox/reaper.h"
#include "sandbox/staging.h"
#include "sandbox/user.h"

namespace modelvet::sandbox {
namespace {

constexpr int kJailNamespaces =
    CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWPID | CLONE_NEWCGROUP;

void enter_namespaces(const ChildPlan& p) {
  if (p.user_namespace) {
    // Created first by the kernel, the user namespace owns the others: the bridge holds every
    // capability inside them and none outside.
    if (unshare(CLONE_NEWUSER | kJailNamespaces) != 0) child_fail(p.status_w, fmt::format("unshare: {}", strerror(errno)));
    if (const char* failed = map_jail_ids(p.rootfs.uid, p.rootfs.gid, p.host_uid, p.host_gid))
      child_fail(p.status_w, fmt::format("{}: {}", failed, strerror(errno)));
  } else {
    // Joined before unshare, so the jail's cgroup namespace is rooted at its own cgroup.
    if (!p.cgroup->add_self()) child_fail(p.status_w, "join cgroup");
    p.v1->add_self();  // optional limits: best effort, reported by doctor
    if (unshare(kJailNamespaces) != 0) child_fail(p.status_w, fmt::format("unshare: {}", strerror(errno)));
  }
}

// Bound after the fork of pid 1, so no process of the jail ever holds them.
void hand_out_fake_net(int handoff_fd) {
  FakeNetSockets net;
  std::string error;
  if (bind_fake_net_sockets(&net, &error)) {
    std::vector<int> fds = {net.tcp, net.udp};
    if (net.diag >= 0) fds.push_back(net.diag);  // without it, sessions are reported unattributed
    send_fds(handoff_fd, fds, "ok");
    for (int fd : fds) close(fd);
  } else {
    send_fds(handoff_fd, {}, "fake network: " + error);
  }
}

}  // namespace

[[noreturn]] void jail_bridge(const ChildPlan& p) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  pid_t supervisor = 0;
  unsigned long long supervisor_start = 0;
  // The staging dir's name records its owner: the supervisor that forked this bridge.
  if (!staging_owner(p.rootfs.staging, &supervisor, &supervisor_start)) supervisor = getppid();
  // The supervisor (or the zygote it asked) died before PR_SET_PDEATHSIG took.
  if (getppid() != (p.zygote ? p.zygote : supervisor)) _exit(127);
  int lifeline[2];
  if (pipe2(lifeline, O_CLOEXEC) != 0) child_fail(p.status_w, fmt::format("pipe: {}", strerror(errno)));
  const ReaperArgs reaper{p.rootfs.staging, p.user_namespace, supervisor, supervisor_start, getpid()};
  if (start_reaper(reaper, lifeline[0]) < 0)
    child_fail(p.status_w, fmt::format("start reaper: {}", strerror(errno)));
  close(lifeline[0]);
  enter_namespaces(p);
  // The network card exists before pid 1 does, so the jail's /sys/class/net copy shows it.
  std::string net_error;
  if (!configure_jail_network(&net_error)) child_fail(p.status_w, "network: " + net_error);
  pid_t init = fork();
  if (init < 0) child_fail(p.status_w, "fork jail init");
  if (init == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    close(lifeline[1]);
    jail_init(p);
  }
  std::string msg = fmt::format("pid {}\n", init);
  (void)!write(lifeline[1], msg.data(), msg.size());  // first to the reaper, then the supervisor
  (void)!write(p.status_w, msg.data(), msg.size());
  hand_out_fake_net(p.handoff_w);
  for (int fd : {p.status_w, p.go_r, p.event_w, p.output_w, p.exe_fd, p.handoff_w}) close(fd);
  int wstatus = 0;
  while (waitpid(init, &wstatus, 0) < 0 && errno == EINTR) {
  }
  int code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
  if (p.exit_w >= 0) {  // a zygote's bridge: the supervisor is not its parent and cannot wait for it
    std::string line = fmt::format("exit {}\n", code);
    (void)!write(p.exit_w, line.data(), line.size());
  }
  _exit(code);
}

}  // namespace modelvet::sandbox
