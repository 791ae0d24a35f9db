// The bridge process: puts the jail in its namespaces, forks its pid 1, hands the fake network out.
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include <fmt/core.h>

#include "sandbox/fake_net.h"
#include "sandbox/fd_passing.h"
#include "sandbox/jail_child.h"
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

int pidfd_open(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }

void wait_pidfd(int pidfd, int ms) {
  if (pidfd < 0) return;
  pollfd f{pidfd, POLLIN, 0};
  while (poll(&f, 1, ms) < 0 && errno == EINTR) {
  }
}

// The supervisor died (SIGKILL, the OOM killer): the jail goes with it, and what the supervisor
// would have removed at teardown is removed here: the processes (the bridge, pid 1 and with it
// the pid namespace; as root every process of the cgroup), the cgroups, the staging dir. The
// mount and network namespaces die with their last process (the supervisor's sockets into the
// netns died with it).
[[noreturn]] void reap_jail(const ChildPlan& p, int bridge_pidfd, int init_pidfd) {
  if (bridge_pidfd >= 0) syscall(SYS_pidfd_send_signal, bridge_pidfd, SIGKILL, nullptr, 0);
  if (init_pidfd >= 0) syscall(SYS_pidfd_send_signal, init_pidfd, SIGKILL, nullptr, 0);
  const std::string name = std::filesystem::path(p.rootfs.staging).filename().string();
  if (!p.user_namespace) remove_jail_cgroups(name, 0);  // cgroup.kill at once; removal below
  wait_pidfd(init_pidfd, 2000);   // a pid namespace's init exits after every process in it
  wait_pidfd(bridge_pidfd, 2000);
  if (!p.user_namespace) remove_jail_cgroups(name, 2000);
  remove_staging_tree(p.rootfs.staging);
  _exit(0);
}

// The reaper: forked by the bridge before it joins the jail's cgroup or any namespace, so it
// stays on the host beside the supervisor. It watches the supervisor (a pidfd: readable when the
// whole process is gone, whichever thread forked the bridge) and the bridge (EOF on `lifeline`,
// which also brings the jail's init pid). PR_SET_PDEATHSIG alone would not do: it kills the
// bridge, but nothing would remove the cgroup and staging dir, and pid 1 loses it at setresuid.
[[noreturn]] void run_reaper(const ChildPlan& p, pid_t supervisor, unsigned long long supervisor_start, int lifeline_r) {
  signal(SIGINT, SIG_IGN);  // a terminal's ^C reaches the whole process group; the supervisor decides
  signal(SIGTERM, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  signal(SIGQUIT, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);
  pid_t bridge = getppid();
  int fds[3] = {pidfd_open(supervisor), pidfd_open(bridge), lifeline_r};
  bool supervisor_gone = fds[0] < 0 || !process_alive(supervisor, supervisor_start);
  if (getppid() != bridge) fds[1] = -1;  // the bridge is already gone
  // Nothing of the supervisor's or the jail's descriptors stays open here (the status pipe's EOF
  // is how the supervisor learns the harness exec'd): fds 0-2 are /dev/null, ours are 3-5.
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull >= 0) devnull = fcntl(devnull, F_DUPFD_CLOEXEC, 100);  // lifted above every target first
  for (int& fd : fds)
    if (fd >= 0) fd = fcntl(fd, F_DUPFD_CLOEXEC, 100);
  for (int i = 0; i < 3; ++i) {
    if (devnull >= 0) dup2(devnull, i);
    if (fds[i] >= 0) fds[i] = dup3(fds[i], 3 + i, O_CLOEXEC) >= 0 ? 3 + i : -1;
  }
  syscall(SYS_close_range, 6, ~0U, 0);
  int sup_fd = fds[0], bridge_fd = fds[1], life_fd = fds[2], init_fd = -1;
  if (supervisor_gone) reap_jail(p, bridge_fd, init_fd);

  std::string got;
  bool bridge_done = false;
  auto bridge_done_at = std::chrono::steady_clock::now();
  while (true) {
    pollfd w[2] = {{sup_fd, POLLIN, 0}, {bridge_done ? -1 : life_fd, POLLIN, 0}};
    int n = poll(w, 2, bridge_done ? 20 : -1);
    if (n < 0 && errno != EINTR) _exit(1);
    if (w[0].revents) reap_jail(p, bridge_fd, init_fd);
    if (w[1].revents) {
      char buf[64];
      ssize_t r = read(life_fd, buf, sizeof buf);
      if (r > 0) {
        got.append(buf, size_t(r));
        if (init_fd < 0 && got.find('\n') != std::string::npos) init_fd = pidfd_open(pid_t(std::atoi(got.c_str())));
      } else if (r == 0) {
        bridge_done = true;  // the jail is over; the supervisor tears it down
        bridge_done_at = std::chrono::steady_clock::now();
      }
    }
    // Done once the supervisor removed the staging dir (the last step of its teardown).
    if (bridge_done && access(p.rootfs.staging.c_str(), F_OK) != 0) _exit(0);
    if (bridge_done && std::chrono::steady_clock::now() - bridge_done_at > std::chrono::seconds(120)) _exit(0);
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
  for (int fd : p.supervisor_ends) close(fd);
  int lifeline[2];
  if (pipe2(lifeline, O_CLOEXEC) != 0) child_fail(p.status_w, fmt::format("pipe: {}", strerror(errno)));
  pid_t reaper = fork();
  if (reaper < 0) child_fail(p.status_w, fmt::format("fork reaper: {}", strerror(errno)));
  if (reaper == 0) {
    close(lifeline[1]);
    run_reaper(p, supervisor, supervisor_start, lifeline[0]);
  }
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
