// The jail's workstation process tree (see session_tree.h).
#include "sandbox/session_tree.h"

#include <fcntl.h>
#include <signal.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include <fmt/core.h>

#include "process/helper_mode.h"
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

// Who a decoy becomes, and under which filter.
struct DecoyIdentity {
  uid_t uid;
  gid_t gid;
  bool user_namespace;
  const SeccompProgram* seccomp;
};

// A decoy: nothing of the jail's (no descriptor, no capability, no way to be read), asleep.
[[noreturn]] void run_decoy(const DecoyIdentity& who, const SessionProcess& proc, const std::vector<std::string>& env) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  syscall(SYS_close_range, 0, ~0U, 0);
  int null = open("/dev/null", O_RDWR);
  if (null >= 0) dup2(null, 1), dup2(null, 2);
  set_process_title(proc.comm, proc.argv, env);
  drop_bounding_set();
  if (become_jail_user(who.uid, who.gid, who.user_namespace) || !drop_capabilities()) _exit(0);
  prctl(PR_SET_PDEATHSIG, SIGKILL);  // cleared by the uid switch
  prctl(PR_SET_DUMPABLE, 0);
  if (!who.seccomp->install()) _exit(0);
  if (proc.comm == kXorgComm) listen_unix(kXSocket);
  while (true) pause();
}

// Forks each decoy at its planned pid (0: wherever the kernel puts it) as a child of this
// process's parent (CLONE_PARENT), so the decoys' parent is the jail's pid 1.
void fork_decoys(const DecoyIdentity& who, const std::vector<int>& pids, const std::vector<std::string>& env,
                 unsigned long clone_flags) {
  const std::vector<SessionProcess> procs = session_processes(static_cast<int>(who.uid));
  for (size_t i = 0; i < procs.size() && i < pids.size(); ++i) {
    if (pids[i] > 0) set_last_pid(pids[i] - 1);
    long child = syscall(SYS_clone, clone_flags | SIGCHLD, nullptr, nullptr, nullptr, nullptr);
    if (child == 0) run_decoy(who, procs[i], env);
  }
}

// The decoys are not forked by a zygote's pid 1 itself: it holds a whole imported torch, and
// every fork of it copies (and at the end tears down) those page tables. A small process, the
// zygote's binary exec'd as `__session`, forks them instead. True when it ran to the end (false
// when it could not start: the caller forks them itself).
bool spawn_decoys_from_small_process(const ChildPlan& p, const std::vector<int>& pids, const std::vector<std::string>& env) {
  std::vector<std::string> args = {"python3", kSessionSpawnerMode, std::to_string(p.rootfs.uid),
                                   std::to_string(p.rootfs.gid), p.user_namespace ? "1" : "0"};
  for (int pid : pids) args.push_back(std::to_string(pid));
  // Everything the child needs is made here: it shares this process's memory until its exec
  // (vfork: no copy of the page tables at all), so it only makes system calls.
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  argv.push_back(nullptr);
  envp.push_back(nullptr);
  const int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null < 0) return false;
  pid_t spawner = vfork();
  if (spawner == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    dup2(null, 0), dup2(null, 1), dup2(null, 2);
    syscall(SYS_close_range, 3, ~0U, 0);
    execve(kLoaderPath, argv.data(), envp.data());
    _exit(127);
  }
  close(null);
  if (spawner < 0) return false;
  int wstatus = 0;
  while (waitpid(spawner, &wstatus, 0) < 0)
    if (errno != EINTR) return false;
  return WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0;
}

// A shell traces nothing, so a process that made itself its tracee runs as if untraced: each
// stop is resumed with the signal it stopped for, except the exec trap and job-control stops
// (an untraced harness is never stopped: nothing in the jail sends it a stop and waits).
void resume_tracee(pid_t pid, int stop_signal) {
  const bool swallow = stop_signal == SIGTRAP || stop_signal == SIGSTOP || stop_signal == SIGTSTP ||
                       stop_signal == SIGTTIN || stop_signal == SIGTTOU;
  ptrace(PTRACE_CONT, pid, nullptr, reinterpret_cast<void*>(static_cast<long>(swallow ? 0 : stop_signal)));
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
  if (!s.pids_advanced) std::fill(pids.begin(), pids.end(), 0);
  // Forked by a zygote, the jail shows the zygote's binary (modelvet) at kLoaderPath; an exec'd
  // jail's pid 1 is a fork of the small supervisor, and its loader may be any program.
  if (!p.zygote || !spawn_decoys_from_small_process(p, pids, s.env))
    fork_decoys({static_cast<uid_t>(p.rootfs.uid), static_cast<gid_t>(p.rootfs.gid), p.user_namespace, p.seccomp}, pids, s.env, 0);
  s.shell_pid = next + 9000 + static_cast<int>(random_below(40000));
  if (!s.pids_advanced || !set_last_pid(s.shell_pid - 1)) s.shell_pid = 0;
  return s;
}

namespace {

int run_session_spawner(int argc, char** argv) {
  // argv: __session <uid> <gid> <user_namespace 0|1> <pid>... (see spawn_decoys_from_small_process)
  if (argc < 5) return 2;
  DecoyIdentity who{static_cast<uid_t>(std::strtoul(argv[2], nullptr, 10)),
                    static_cast<gid_t>(std::strtoul(argv[3], nullptr, 10)), std::string(argv[4]) == "1", nullptr};
  std::vector<int> pids;
  for (int i = 5; i < argc; ++i) pids.push_back(std::atoi(argv[i]));
  std::string error;
  const SeccompProgram filter = SeccompProgram::build(&error);
  if (!error.empty()) return 3;
  who.seccomp = &filter;
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) env.emplace_back(*e);
  fork_decoys(who, pids, env, CLONE_PARENT);
  return 0;
}

const process::HelperMode kSpawner{kSessionSpawnerMode, run_session_spawner};

}  // namespace

[[noreturn]] void run_loader_shell(const std::vector<std::string>& env, const std::vector<int>& close_fds,
                                   void (*start)(const void*), const void* arg, int status_fd, int cgroup_procs) {
  const SessionProcess shell = loader_shell();
  set_process_title(shell.comm, shell.argv, env);
  if (cgroup_procs >= 0) {
    (void)!write(cgroup_procs, "0", 1);  // best effort: a failed move leaves the shell where pid 1 is
    close(cgroup_procs);
  }
  pid_t harness = fork();
  if (harness < 0) child_fail(status_fd, "fork harness");
  if (harness == 0) start(arg);
  for (int fd : close_fds) close(fd);
  while (true) {
    int wstatus = 0;
    pid_t done = waitpid(harness, &wstatus, 0);
    if (done < 0 && errno == EINTR) continue;
    if (done < 0) _exit(125);
    if (WIFSTOPPED(wstatus)) {  // the harness made itself this shell's tracee (PTRACE_TRACEME)
      resume_tracee(harness, WSTOPSIG(wstatus));
      continue;
    }
    _exit(WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus));
  }
}

}  // namespace modelvet::sandbox
