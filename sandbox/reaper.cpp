#include "sandbox/reaper.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <vector>

#include "process/helper_mode.h"
#include "sandbox/cgroup.h"
#include "sandbox/staging.h"

namespace modelvet::sandbox {
namespace {

constexpr int kLifelineFd = 3;

int pidfd_open(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }

void wait_pidfd(int pidfd, int ms) {
  if (pidfd < 0) return;
  pollfd f{pidfd, POLLIN, 0};
  while (poll(&f, 1, ms) < 0 && errno == EINTR) {
  }
}

// The supervisor died: the jail goes with it, and what the supervisor would have removed at
// teardown is removed here: the processes (the bridge, pid 1 and with it the pid namespace; as
// root every process of the cgroup), the cgroups, the staging dir. The mount and network
// namespaces die with their last process (the supervisor's sockets into the netns died with it).
[[noreturn]] void reap_jail(const ReaperArgs& a, int bridge_pidfd, int init_pidfd) {
  if (bridge_pidfd >= 0) syscall(SYS_pidfd_send_signal, bridge_pidfd, SIGKILL, nullptr, 0);
  if (init_pidfd >= 0) syscall(SYS_pidfd_send_signal, init_pidfd, SIGKILL, nullptr, 0);
  const std::string name = std::filesystem::path(a.staging).filename().string();
  if (!a.user_namespace) remove_jail_cgroups(name, 0);  // cgroup.kill at once; removal below
  wait_pidfd(init_pidfd, 2000);  // a pid namespace's init exits after every process in it
  wait_pidfd(bridge_pidfd, 2000);
  if (!a.user_namespace) remove_jail_cgroups(name, 2000);
  remove_staging_tree(a.staging);
  _exit(0);
}

// It watches the supervisor (a pidfd: readable when the whole process is gone, whichever thread
// forked the bridge) and the bridge (EOF on the lifeline, fd 3, which also brings the jail's init
// pid). PR_SET_PDEATHSIG alone would not do: it kills the bridge, but nothing would remove the
// cgroup and staging dir, and pid 1 loses it at setresuid.
[[noreturn]] void reaper_loop(const ReaperArgs& a) {
  signal(SIGINT, SIG_IGN);  // a terminal's ^C reaches the whole process group; the supervisor decides
  signal(SIGTERM, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  signal(SIGQUIT, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);
  const int sup_fd = pidfd_open(a.supervisor);
  int bridge_fd = pidfd_open(a.bridge);
  if (getppid() != a.bridge && bridge_fd >= 0) close(bridge_fd), bridge_fd = -1;  // gone (and maybe recycled)
  int init_fd = -1;
  if (sup_fd < 0 || !process_alive(a.supervisor, a.supervisor_start)) reap_jail(a, bridge_fd, init_fd);

  std::string got;
  bool bridge_done = false;
  auto bridge_done_at = std::chrono::steady_clock::now();
  while (true) {
    pollfd w[2] = {{sup_fd, POLLIN, 0}, {bridge_done ? -1 : kLifelineFd, POLLIN, 0}};
    int n = poll(w, 2, bridge_done ? 20 : -1);
    if (n < 0 && errno != EINTR) _exit(1);
    if (w[0].revents) reap_jail(a, bridge_fd, init_fd);
    if (w[1].revents) {
      char buf[64];
      ssize_t r = read(kLifelineFd, buf, sizeof buf);
      if (r > 0) {
        got.append(buf, size_t(r));
        if (init_fd < 0 && got.find('\n') != std::string::npos) init_fd = pidfd_open(pid_t(std::atoi(got.c_str())));
      } else if (r == 0) {
        bridge_done = true;  // the jail is over; the supervisor tears it down
        bridge_done_at = std::chrono::steady_clock::now();
      }
    }
    // Done once the supervisor removed the staging dir (the last step of its teardown).
    if (bridge_done && access(a.staging.c_str(), F_OK) != 0) _exit(0);
    if (bridge_done && std::chrono::steady_clock::now() - bridge_done_at > std::chrono::seconds(120)) _exit(0);
  }
}

}  // namespace

pid_t start_reaper(const ReaperArgs& a, int lifeline_r) {
  // Nothing of the supervisor's or the jail's descriptors stays open in it (the status pipe's EOF
  // is how the supervisor learns the harness exec'd), nor the supervisor's output.
  process::HelperSpawn spawn{"modelvet-reaper", kReaperMode,
                             {a.staging, a.user_namespace ? "1" : "0", std::to_string(a.supervisor),
                              std::to_string(a.supervisor_start), std::to_string(a.bridge)},
                             {lifeline_r}, /*null_stdio=*/true};
  std::string ignored;
  return process::spawn_helper(spawn, &ignored);
}

namespace {

int run_reaper(int argc, char** argv) {
  if (argc != 7) return 2;
  reaper_loop(ReaperArgs{argv[2], std::string(argv[3]) == "1", pid_t(std::atoi(argv[4])),
                         std::strtoull(argv[5], nullptr, 10), pid_t(std::atoi(argv[6]))});
}

const process::HelperMode kReaper{kReaperMode, run_reaper};

}  // namespace

}  // namespace modelvet::sandbox
