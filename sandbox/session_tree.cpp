// The jail's workstation process tree (see session_tree.h).
#include "sandbox/session_tree.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include <fmt/core.h>

#include "sandbox/caps.h"
#include "sandbox/decoys.h"
#include "sandbox/proc_title.h"
#include "sandbox/user.h"
#include "sandbox/workstation.h"

namespace modelvet::sandbox {
namespace {

unsigned random_below(unsigned n) {
  unsigned v = 0;
  if (getrandom(&v, sizeof v, 0) != sizeof v) return n / 2;
  return v % n;
}

// The next fork in this pid namespace gets pid last + 1.
bool set_last_pid(int last) {
  int fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  std::string text = std::to_string(last);
  bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  close(fd);
  return ok;
}

// The decoy's own listening socket (the X server's), owned by the jail user like a rootless
// Xorg's; connections queue and are never accepted. Best effort: a decoy never fails the jail.
void listen_unix(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (fd < 0 || path.size() >= sizeof addr.sun_path) return;
  memcpy(addr.sun_path, path.c_str(), path.size());
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd, 4) != 0) close(fd);
}

// A decoy: nothing of the jail's (no descriptor, no capability, no way to be read), asleep.
[[noreturn]] void run_decoy(const ChildPlan& p, const SessionProcess& proc, const std::vector<std::string>& env) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  syscall(SYS_close_range, 0, ~0U, 0);
  int null = open("/dev/null", O_RDWR);
  if (null >= 0) dup2(null, 1), dup2(null, 2);
  set_process_title(proc.comm, proc.argv, env);
  drop_bounding_set();
  if (become_jail_user(p.rootfs.uid, p.rootfs.gid, p.user_namespace) || !drop_capabilities()) _exit(0);
  prctl(PR_SET_PDEATHSIG, SIGKILL);  // cleared by the uid switch
  prctl(PR_SET_DUMPABLE, 0);
  if (!p.seccomp->install()) _exit(0);
  if (proc.comm == kXorgComm) listen_unix(kXSocket);
  while (true) pause();
}

}  // namespace

Session start_session(const ChildPlan& p) {
  Session s;
  const SessionProcess init = session_init();
  // The session's processes started at login, a few pids apart; later ones (the training run,
  // Jupyter) after a while; the loader's shell much later, as after days of uptime.
  int next = 900 + static_cast<int>(random_below(600));
  const std::vector<SessionProcess> procs = session_processes(p.rootfs.uid);
  std::vector<int> pids;
  for (size_t i = 0; i < procs.size(); ++i) {
    next += 1 + static_cast<int>(random_below(i < 7 ? 12 : 900));
    pids.push_back(next);
    if (procs[i].comm == "tmux: server") s.tmux_pid = next;
  }
  s.env = p.envp;
  for (const std::string& e : session_environment(p.rootfs.uid, s.tmux_pid)) s.env.push_back(e);
  set_process_title(init.comm, init.argv, std::vector<std::string>{"HOME=" + std::string(kJailHome), "LANG=C.UTF-8", "USER=" + std::string(kJailUser),
                                          "XDG_RUNTIME_DIR=" + fmt::format("/run/user/{}", p.rootfs.uid)});
  s.pids_advanced = set_last_pid(1);
  for (size_t i = 0; i < procs.size(); ++i) {
    if (s.pids_advanced) set_last_pid(pids[i] - 1);
    pid_t child = fork();
    if (child == 0) run_decoy(p, procs[i], s.env);
  }
  s.shell_pid = next + 9000 + static_cast<int>(random_below(40000));
  if (!s.pids_advanced || !set_last_pid(s.shell_pid - 1)) s.shell_pid = 0;
  return s;
}

[[noreturn]] void run_loader_shell(const std::vector<std::string>& env, const std::vector<int>& close_fds,
                                   void (*start)(const void*), const void* arg, int status_fd) {
  const SessionProcess shell = loader_shell();
  set_process_title(shell.comm, shell.argv, env);
  pid_t harness = fork();
  if (harness < 0) child_fail(status_fd, "fork harness");
  if (harness == 0) start(arg);
  for (int fd : close_fds) close(fd);
  while (true) {
    int wstatus = 0;
    pid_t done = waitpid(harness, &wstatus, 0);
    if (done < 0 && errno == EINTR) continue;
    if (done < 0) _exit(125);
    _exit(WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus));
  }
}

}  // namespace modelvet::sandbox
