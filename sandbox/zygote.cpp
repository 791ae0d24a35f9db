// The zygote: the supervisor's handle (start, one bridge per request, replacement) and the
// zygote's own loop. A request is the ChildPlan run_jail computed, as JSON, with the plan's
// descriptors attached (SCM_RIGHTS over a SOCK_SEQPACKET socket, so a message is never split).
#include "sandbox/zygote.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/core.h>

#include "sandbox/fd_passing.h"
#include "sandbox/limits.h"
#include "sandbox/plan_codec.h"
#include "sandbox/workstation.h"

namespace modelvet::sandbox {
namespace {

constexpr int kControlFd = 3;
constexpr int kHelloTimeoutMs = 120000;  // importing torch on a loaded 2-core machine
constexpr int kReplyTimeoutMs = 20000;

int pidfd_open(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }

// The zygote inherits nothing but its control socket (fd 3) and stdio.
void become_zygote_child(int control, pid_t supervisor) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);  // survives the exec below
  if (getppid() != supervisor) _exit(127);
  // dup2 onto itself would keep close-on-exec: the flag is cleared either way.
  if (control != kControlFd && dup2(control, kControlFd) < 0) _exit(127);
  if (fcntl(kControlFd, F_SETFD, 0) != 0) _exit(127);
  syscall(SYS_close_range, kControlFd + 1, ~0U, 0);
  // Nothing it or its imports print may reach the supervisor's output (a scan's JSON).
  int devnull = open("/dev/null", O_RDWR);
  if (devnull >= 0) dup2(devnull, 0), dup2(devnull, 1), dup2(devnull, 2), close(devnull);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);  // the supervisor's worker threads block signals
  signal(SIGPIPE, SIG_DFL);
  signal(SIGCHLD, SIG_DFL);
}

// A forked jail's /proc/self/exe is the zygote's executable, named as the zygote's mount
// namespace names it: the host's build path would tell a payload what runs it. In a private
// mount namespace of its own the zygote's binary is bind-mounted at the path an exec'd harness
// has (kLoaderPath), on a tmpfs over the deepest existing ancestor (so nothing on the host is
// created), and exec'd from there. Everything is computed here, before the fork: the child of
// a threaded supervisor only makes system calls (mount_loader_path).
struct LoaderMount {
  std::string binary;    // what to exec where the namespace cannot be made (rootless): the tell stays
  std::string resolved;  // the binary by its resolved name, opened after the unshare (a bind's
                         // source must be a mount of the caller's own namespace)
  std::string over;      // the tmpfs's mount point; empty: no mount (it would be over /)
  std::vector<std::string> dirs;  // created on the tmpfs, outermost first
  char source[32] = {};  // /proc/self/fd/<held>, filled in the child
};

LoaderMount plan_loader_mount(const std::string& binary) {
  namespace fs = std::filesystem;
  LoaderMount m{binary, {}, {}, {}};
  std::error_code ec;
  fs::path target(kLoaderPath), over = target.parent_path();
  while (over != over.root_path() && !fs::is_directory(over, ec)) over = over.parent_path();
  m.resolved = fs::canonical(binary, ec).string();
  if (over == over.root_path() || ec) return m;
  m.over = over.string();
  for (fs::path d = target.parent_path(); d != over; d = d.parent_path()) m.dirs.insert(m.dirs.begin(), d.string());
  return m;
}

// In the forked child: system calls only. Returns the path to exec.
const char* mount_loader_path(LoaderMount& m) {
  if (m.over.empty()) return m.binary.c_str();
  if (unshare(CLONE_NEWNS) != 0 || mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return m.binary.c_str();
  // Held before the tmpfs goes up (the binary may lie under `over`).
  int held = open(m.resolved.c_str(), O_PATH | O_CLOEXEC);
  if (held < 0) return m.binary.c_str();
  const char* exec_path = m.binary.c_str();
  if (mount("tmpfs", m.over.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0755") == 0) {
    for (const auto& d : m.dirs) mkdir(d.c_str(), 0755);
    int stub = open(kLoaderPath, O_WRONLY | O_CREAT | O_CLOEXEC, 0755);
    if (stub >= 0) close(stub);
    // "/proc/self/fd/" and the descriptor's digits, without a formatter.
    char digits[12];
    int n = 0;
    for (int v = held; n == 0 || v > 0; v /= 10) digits[n++] = char('0' + v % 10);
    char* out = m.source;
    for (const char* p = "/proc/self/fd/"; *p; ++p) *out++ = *p;
    while (n > 0) *out++ = digits[--n];
    *out = '\0';
    if (stub >= 0 && mount(m.source, kLoaderPath, nullptr, MS_BIND, nullptr) == 0)
      exec_path = kLoaderPath;
    else
      umount2(m.over.c_str(), MNT_DETACH);  // back to the host's view, so `binary` is reachable
  }
  close(held);
  return exec_path;
}

}  // namespace

Zygote::Zygote(std::string name, pid_t pid, int control)
    : name_(std::move(name)), pid_(pid), pidfd_(pidfd_open(pid)), control_(control) {}

Zygote::~Zygote() {
  if (pidfd_ >= 0) syscall(SYS_pidfd_send_signal, pidfd_, SIGKILL, nullptr, 0);
  if (pid_ > 0) waitpid(pid_, nullptr, 0);
  if (pidfd_ >= 0) close(pidfd_);
  if (control_ >= 0) close(control_);
}

bool Zygote::await_hello(std::string* error) {
  std::vector<int> fds;
  std::string text;
  if (!receive_fds(control_, 0, kHelloTimeoutMs, &fds, &text) || text.rfind("ready", 0) != 0) {
    *error = text.empty() ? fmt::format("zygote {} did not start", name_) : fmt::format("zygote {}: {}", name_, text);
    return false;
  }
  return true;
}

std::unique_ptr<Zygote> Zygote::exec(const std::string& name, const std::vector<std::string>& argv, std::string* error) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    *error = fmt::format("zygote socket: {}", strerror(errno));
    return nullptr;
  }
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  // Libraries read the environment at import: the zygote's is a plain user session's; each
  // jail's own (decoys included) replaces it in the forked harness.
  std::vector<std::string> env = {"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", "HOME=/nonexistent"};
  for (const char* keep : {"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"})
    if (const char* v = getenv(keep)) env.push_back(std::string(keep) + "=" + v);
  std::vector<char*> envp;
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  LoaderMount loader = plan_loader_mount(argv.at(0));
  pid_t supervisor = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    *error = fmt::format("fork zygote: {}", strerror(errno));
    close(sv[0]), close(sv[1]);
    return nullptr;
  }
  if (pid == 0) {
    become_zygote_child(sv[1], supervisor);
    execve(mount_loader_path(loader), args.data(), envp.data());
    _exit(127);
  }
  close(sv[1]);
  auto z = std::unique_ptr<Zygote>(new Zygote(name, pid, sv[0]));
  if (!z->await_hello(error)) return nullptr;
  return z;
}

bool Zygote::healthy() const {
  std::lock_guard lock(mu_);
  if (broken_ || pidfd_ < 0) return false;
  pollfd f{pidfd_, POLLIN, 0};
  return poll(&f, 1, 0) == 0;  // readable once it exited
}

pid_t Zygote::spawn_bridge(const ChildPlan& plan, std::string* error) {
  std::lock_guard lock(mu_);
  if (broken_) {
    *error = fmt::format("zygote {} is being replaced", name_);
    return -1;
  }
  EncodedPlan message = encode_plan(plan);
  std::vector<int> none;
  std::string reply;
  if (!send_fds(control_, message.fds, message.text) || !receive_fds(control_, 0, kReplyTimeoutMs, &none, &reply)) {
    broken_ = true;
    *error = fmt::format("zygote {} did not answer", name_);
    return -1;
  }
  if (reply.rfind("pid ", 0) != 0) {
    broken_ = true;
    *error = fmt::format("zygote {}: {}", name_, reply);
    return -1;
  }
  ++forked_;
  return static_cast<pid_t>(std::atoi(reply.c_str() + 4));
}

[[noreturn]] void serve_zygote(int control_fd, const InProcessHarness& harness) {
  // One thread is what fork copies: a zygote whose imports started others says so (a library
  // lock held by one of them at fork time would be held forever in the jail).
  size_t threads = 0;
  for ([[maybe_unused]] const auto& t : std::filesystem::directory_iterator("/proc/self/task")) ++threads;
  if (!send_fds(control_fd, {}, fmt::format("ready threads={}", threads))) _exit(1);
  while (true) {
    while (waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    pollfd f{control_fd, POLLIN, 0};
    if (poll(&f, 1, 1000) == 0) continue;
    std::vector<int> fds;
    std::string text;
    if (!receive_fds(control_fd, kPlanFds, 0, &fds, &text, kMaxPlanBytes)) {
      if (f.revents & (POLLHUP | POLLERR)) _exit(0);  // the supervisor is done with us
      continue;
    }
    if (fds.size() < kExitW) {
      for (int fd : fds) close(fd);
      send_fds(control_fd, {}, "error: malformed request");
      continue;
    }
    pid_t bridge = fork();
    if (bridge == 0) {
      close(control_fd);
      ChildPlan* plan = nullptr;
      try {
        plan = decode_plan(text, fds);
        plan->zygote = getppid();
        plan->in_process_harness = harness;
      } catch (const std::exception& e) {
        child_fail(fds[kStatusW], std::string("zygote plan: ") + e.what());
      }
      // The received descriptors are close-on-exec; the bridge and pid 1 fork, never exec.
      jail_bridge(*plan);
    }
    for (int fd : fds) close(fd);
    send_fds(control_fd, {}, bridge > 0 ? fmt::format("pid {}", bridge) : fmt::format("error: fork: {}", strerror(errno)));
  }
}

}  // namespace modelvet::sandbox
