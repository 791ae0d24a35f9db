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
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "sandbox/fd_passing.h"
#include "sandbox/limits.h"
#include "sandbox/workstation.h"

namespace modelvet::sandbox {
namespace {

constexpr int kControlFd = 3;
constexpr size_t kMaxPlanBytes = 1u << 20;
constexpr int kHelloTimeoutMs = 120000;  // importing torch on a loaded 2-core machine
constexpr int kReplyTimeoutMs = 20000;

// The plan's descriptors, in the order they travel.
enum PlanFd { kEventW, kOutputW, kStatusW, kGoR, kHandoffW, kExitW, kExeFd, kPlanFds };

nlohmann::json limits_json(const Limits& l) {
  return {{"address_space", l.address_space}, {"memory", l.memory},       {"cpu_seconds", l.cpu_seconds},
          {"processes", l.processes},         {"open_files", l.open_files}, {"file_size", l.file_size},
          {"scratch_bytes", l.scratch_bytes}, {"home_bytes", l.home_bytes}};
}

Limits limits_from(const nlohmann::json& j) {
  Limits l;
  l.address_space = j.at("address_space"), l.memory = j.at("memory"), l.cpu_seconds = j.at("cpu_seconds");
  l.processes = j.at("processes"), l.open_files = j.at("open_files"), l.file_size = j.at("file_size");
  l.scratch_bytes = j.at("scratch_bytes"), l.home_bytes = j.at("home_bytes");
  return l;
}

// A file name (and so argv) may hold any byte: those strings travel as hex, exactly.
std::string hex(const std::string& s) {
  std::string out;
  for (unsigned char c : s) out += fmt::format("{:02x}", c);
  return out;
}

nlohmann::json hex_all(const std::vector<std::string>& v) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& s : v) out.push_back(hex(s));
  return out;
}

std::string encode_plan(const ChildPlan& p) {
  nlohmann::json filter = nlohmann::json::array();
  for (const sock_filter& f : p.seccomp->filter()) filter.push_back({f.code, f.jt, f.jf, f.k});
  nlohmann::json j = {
      {"rootfs", {{"staging", p.rootfs.staging}, {"model_name", hex(p.rootfs.model_name)}, {"uid", p.rootfs.uid},
                  {"gid", p.rootfs.gid}, {"limits", limits_json(p.rootfs.limits)}}},
      {"seccomp", filter},
      {"argv", hex_all(p.argv)},
      {"envp", hex_all(p.envp)},
      {"user_namespace", p.user_namespace},
      {"host_uid", p.host_uid},
      {"host_gid", p.host_gid},
      {"cgroup", p.user_namespace ? "" : p.cgroup->path()},
      {"v1_pids", p.user_namespace ? "" : p.v1->pids_dir()},
      {"v1_memory", p.user_namespace ? "" : p.v1->memory_dir()},
  };
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string unhex(const std::string& h) {
  std::string out;
  for (size_t i = 0; i + 1 < h.size(); i += 2) out.push_back(char(std::stoi(h.substr(i, 2), nullptr, 16)));
  return out;
}

std::vector<std::string> unhex_all(const nlohmann::json& v) {
  std::vector<std::string> out;
  for (const auto& s : v) out.push_back(unhex(s.get<std::string>()));
  return out;
}

// The child's copy of the plan: it lives until the bridge _exits (never destroyed: the v1
// handle would remove the cgroup dirs).
ChildPlan* decode_plan(const std::string& text, const std::vector<int>& fds, const InProcessHarness& harness) {
  nlohmann::json j = nlohmann::json::parse(text);
  auto* plan = new ChildPlan{};
  const auto& r = j.at("rootfs");
  plan->rootfs = RootfsPlan{r.at("staging"), unhex(r.at("model_name")), r.at("uid"), r.at("gid"), limits_from(r.at("limits"))};
  std::vector<sock_filter> filter;
  for (const auto& f : j.at("seccomp")) filter.push_back(sock_filter{f[0], f[1], f[2], f[3]});
  plan->seccomp = new SeccompProgram(SeccompProgram::from_filter(std::move(filter)));
  plan->argv = unhex_all(j.at("argv"));
  plan->envp = unhex_all(j.at("envp"));
  plan->exe_fd = fds[kExeFd], plan->event_w = fds[kEventW], plan->output_w = fds[kOutputW];
  plan->status_w = fds[kStatusW], plan->go_r = fds[kGoR], plan->handoff_w = fds[kHandoffW];
  plan->exit_w = fds[kExitW];
  plan->user_namespace = j.at("user_namespace");
  plan->host_uid = j.at("host_uid"), plan->host_gid = j.at("host_gid");
  plan->cgroup = new JailCgroup(JailCgroup::for_joining(j.at("cgroup")));
  plan->v1 = new V1Limits(V1Limits::for_joining(j.at("v1_pids"), j.at("v1_memory")));
  plan->zygote = getppid();
  plan->in_process_harness = harness;
  return plan;
}

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
// created), and exec'd from there. Returns the path to exec: that one, or `binary` itself where
// the namespace cannot be made (rootless), the tell then left as it was.
std::string exec_path_as_in_jail(const std::string& binary) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path target(kLoaderPath), over = target.parent_path();
  while (over != over.root_path() && !fs::is_directory(over, ec)) over = over.parent_path();
  if (over == over.root_path()) return binary;  // a tmpfs over / would hide everything
  if (unshare(CLONE_NEWNS) != 0 || mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return binary;
  // Held before the tmpfs goes up (the binary may lie under `over`), and opened after the
  // unshare by its resolved name: a bind's source must be a mount of the caller's own
  // namespace, and /proc/self/exe would hand back the old namespace's.
  std::string resolved = fs::canonical(binary, ec).string();
  int held = ec ? -1 : open(resolved.c_str(), O_PATH | O_CLOEXEC);
  if (held < 0) return binary;
  std::string exec_path = binary;
  if (mount("tmpfs", over.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0755") == 0) {
    fs::create_directories(target.parent_path(), ec);
    int stub = open(target.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0755);
    if (stub >= 0) close(stub);
    std::string source = fmt::format("/proc/self/fd/{}", held);
    if (stub >= 0 && mount(source.c_str(), target.c_str(), nullptr, MS_BIND, nullptr) == 0)
      exec_path = target.string();
    else
      umount2(over.c_str(), MNT_DETACH);  // back to the host's view, so `binary` is reachable
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
  pid_t supervisor = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    *error = fmt::format("fork zygote: {}", strerror(errno));
    close(sv[0]), close(sv[1]);
    return nullptr;
  }
  if (pid == 0) {
    become_zygote_child(sv[1], supervisor);
    std::string exe = exec_path_as_in_jail(argv.at(0));
    execve(exe.c_str(), args.data(), envp.data());
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
  std::vector<int> fds(kPlanFds);
  fds[kEventW] = plan.event_w, fds[kOutputW] = plan.output_w, fds[kStatusW] = plan.status_w;
  fds[kGoR] = plan.go_r, fds[kHandoffW] = plan.handoff_w, fds[kExitW] = plan.exit_w, fds[kExeFd] = plan.exe_fd;
  std::vector<int> none;
  std::string reply;
  if (!send_fds(control_, fds, encode_plan(plan)) || !receive_fds(control_, 0, kReplyTimeoutMs, &none, &reply)) {
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
    if (fds.size() != kPlanFds) {
      for (int fd : fds) close(fd);
      send_fds(control_fd, {}, "error: malformed request");
      continue;
    }
    pid_t bridge = fork();
    if (bridge == 0) {
      close(control_fd);
      ChildPlan* plan = nullptr;
      try {
        plan = decode_plan(text, fds, harness);
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
