#include "sandbox/jail.h"

#include <cstring>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>

#include <fmt/core.h>

#include "sandbox/cgroup.h"
#include "sandbox/fd_passing.h"
#include "sandbox/rootfs.h"
#include "sandbox/seccomp_filter.h"

namespace modelvet::sandbox {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kEventFd = 3;   // the harness writes its JSON lines here
constexpr int kStatusFd = 4;  // close-on-exec: EOF after "ready" means the exec succeeded
constexpr int kExeFd = 5;
constexpr size_t kMaxOutput = 64 * 1024;

uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
}

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// A pipe, or a unix socket pair where descriptors must cross (SCM_RIGHTS): the supervisor
// keeps r, the jail side gets w; whatever is still open closes with it.
struct Pipe {
  int r = -1, w = -1;
  bool open(int flags = O_CLOEXEC) {
    int fds[2];
    if (pipe2(fds, flags) != 0) return false;
    r = fds[0], w = fds[1];
    return true;
  }
  bool open_socket_pair() {
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) return false;
    r = fds[0], w = fds[1];
    return true;
  }
  void close_r() { if (r >= 0) ::close(r), r = -1; }
  void close_w() { if (w >= 0) ::close(w), w = -1; }
  ~Pipe() { close_r(), close_w(); }
};

// Child side: report a failed step to the supervisor and die. Only write() and _exit().
[[noreturn]] void child_fail(int status_fd, const std::string& what) {
  std::string msg = "error " + what + "\n";
  (void)!write(status_fd, msg.data(), msg.size());
  _exit(127);
}

void write_text(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

// The jail's /etc: generated, with just enough of the host's to run the dynamic loader and Python.
void write_etc(const fs::path& etc, int uid) {
  write_text(etc / "passwd", fmt::format("root:x:0:0:root:/root:/bin/bash\n"
                                         "{0}:x:{1}:{1}:Alice Chen:{2}:/bin/bash\n"
                                         "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
                                         kJailUser, uid, kJailHome));
  write_text(etc / "group", fmt::format("root:x:0:\n{0}:x:{1}:\nnogroup:x:65534:\n", kJailUser, uid));
  write_text(etc / "hostname", std::string(kJailHostname) + "\n");
  write_text(etc / "hosts", fmt::format("127.0.0.1\tlocalhost\n127.0.1.1\t{}\n::1\tlocalhost ip6-localhost\n", kJailHostname));
  write_text(etc / "resolv.conf", "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n");
  write_text(etc / "nsswitch.conf", "passwd: files\ngroup: files\nhosts: files dns\nnetworks: files\nservices: files\nprotocols: files\n");
  // /etc/alternatives (hundreds of symlinks: /usr/bin/nc, awk, ... point into it) is bind-mounted
  // read-only by enter_rootfs instead: copying it cost ~0.2 s per jail. This is its mount point.
  fs::create_directories(etc / "alternatives");
  for (const char* name : {"ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "protocols", "services",
                           "python3", "python3.11", "mime.types", "os-release", "debian_version"}) {
    std::error_code ec;
    fs::path src = fs::path("/etc") / name;
    if (!fs::exists(fs::symlink_status(src))) continue;
    fs::copy(src, etc / name,
             fs::copy_options::recursive | fs::copy_options::copy_symlinks | fs::copy_options::overwrite_existing, ec);
  }
}

std::vector<std::string> harness_env(const Decoys& decoys) {
  std::vector<std::string> env = {
      "HOME=" + std::string(kJailHome),   "USER=" + std::string(kJailUser), "LOGNAME=" + std::string(kJailUser),
      "SHELL=/bin/bash",                  "PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8",
      "HOSTNAME=" + std::string(kJailHostname), "PWD=" + jail_model_dir(), "TERM=xterm-256color",
  };
  for (const auto& [name, value] : decoys.env) env.push_back(name + "=" + value);
  return env;
}

// Everything the jail's first process needs, computed before fork so the child only copies.
struct ChildPlan {
  RootfsPlan rootfs;
  const SeccompProgram* seccomp;
  std::vector<std::string> argv, envp;
  int exe_fd, event_w, output_w, status_w, go_r;
  int handoff_w;               // unix socket: the fake network's sockets go out through it
  std::vector<int> supervisor_ends;  // closed first thing in the bridge: only the supervisor reads them
  bool user_namespace;         // rootless
  uid_t host_uid;              // what the jail user maps to, rootless
  gid_t host_gid;
  const JailCgroup* cgroup;    // root only
  const V1Limits* v1;
};

// Rootless: the jail user and group map to the caller's own ids, the one mapping an
// unprivileged process may write (after giving up setgroups). Returns the failed step or null.
const char* map_jail_ids(const ChildPlan& p) {
  auto write_proc = [](const char* path, const std::string& text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    bool ok = fd >= 0 && write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    if (fd >= 0) close(fd);
    return ok;
  };
  if (!write_proc("/proc/self/setgroups", "deny")) return "setgroups deny";
  if (!write_proc("/proc/self/uid_map", fmt::format("{} {} 1\n", p.rootfs.uid, p.host_uid))) return "uid_map";
  if (!write_proc("/proc/self/gid_map", fmt::format("{} {} 1\n", p.rootfs.gid, p.host_gid))) return "gid_map";
  return nullptr;
}

// Empties the bounding set, which needs CAP_SETPCAP: before becoming the jail user.
void drop_bounding_set() {
  for (int cap = 0; cap <= CAP_LAST_CAP; ++cap) prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
}

// Empties the other capability sets. As root, becoming the jail user already cleared the
// permitted and effective sets; in a user namespace the jail user is the namespace's creator
// and keeps them until told otherwise.
bool drop_capabilities() {
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  return syscall(SYS_capset, &header, data) == 0;
}

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

// The jail's pid 1: builds the view, drops everything, waits for "go", execs the harness.
[[noreturn]] void jail_init(const ChildPlan& p) {
  int status = p.status_w;
  close(p.handoff_w);
  std::string error;
  if (sethostname(kJailHostname, strlen(kJailHostname)) != 0) child_fail(status, "sethostname");
  if (!enter_rootfs(p.rootfs, &error)) child_fail(status, error);
  if (const char* failed = apply_rlimits(p.rootfs.limits)) child_fail(status, fmt::format("setrlimit {}: {}", failed, strerror(errno)));
  // Become the jail user (a user namespace has denied setgroups already), then no capability.
  drop_bounding_set();
  gid_t gid = p.rootfs.gid;
  if (!p.user_namespace && setgroups(1, &gid) != 0) child_fail(status, "setgroups");
  if (setresgid(gid, gid, gid) != 0) child_fail(status, "setresgid");
  if (setresuid(p.rootfs.uid, p.rootfs.uid, p.rootfs.uid) != 0) child_fail(status, "setresuid");
  if (!drop_capabilities()) child_fail(status, "drop capabilities");

  (void)!write(status, "ready\n", 6);
  char go = 0;
  if (read(p.go_r, &go, 1) != 1 || go != 'G') _exit(126);  // supervisor gave up: run nothing
  // Only now: an unprivileged supervisor's ptrace needs this process dumpable to attach, and it
  // has attached. From here on the loaded code can neither trace nor read its init.
  if (prctl(PR_SET_DUMPABLE, 0) != 0) child_fail(status, "PR_SET_DUMPABLE");

  if (!p.seccomp->install()) child_fail(status, "seccomp");
  // The loaded code must not be pid 1: init ignores default-action signals (so SIGXCPU would not
  // stop it) and a sample could spot the sandbox by its pid. This process stays as the jail's
  // init, reaps orphans, and mirrors the harness's end; its exit kills whatever is left.
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

// The bridge process: joins the cgroups (root) or creates a user namespace (rootless),
// unshares, forks the jail's pid 1, reports its pid, hands the fake network's sockets out, and
// mirrors the init's exit status (exit code, or 128+signal).
[[noreturn]] void jail_bridge(const ChildPlan& p) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  for (int fd : p.supervisor_ends) close(fd);
  int namespaces = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWPID | CLONE_NEWCGROUP;
  if (p.user_namespace) {
    // Created first by the kernel, the user namespace owns the others: the bridge holds every
    // capability inside them and none outside.
    if (unshare(CLONE_NEWUSER | namespaces) != 0) child_fail(p.status_w, fmt::format("unshare: {}", strerror(errno)));
    if (const char* failed = map_jail_ids(p)) child_fail(p.status_w, fmt::format("{}: {}", failed, strerror(errno)));
  } else {
    if (!p.cgroup->add_self()) child_fail(p.status_w, "join cgroup");
    p.v1->add_self();  // optional limits: best effort, reported by doctor
    if (unshare(namespaces) != 0) child_fail(p.status_w, fmt::format("unshare: {}", strerror(errno)));
  }
  pid_t init = fork();
  if (init < 0) child_fail(p.status_w, "fork jail init");
  if (init == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    jail_init(p);
  }
  std::string msg = fmt::format("pid {}\n", init);
  (void)!write(p.status_w, msg.data(), msg.size());
  // Bound after the fork, so no process of the jail ever holds them.
  FakeNetSockets net;
  std::string error;
  if (bind_fake_net_sockets(&net, &error)) {
    send_fds(p.handoff_w, {net.tcp, net.udp}, "ok");
    close(net.tcp), close(net.udp);
  } else {
    send_fds(p.handoff_w, {}, "fake network: " + error);
  }
  for (int fd : {p.status_w, p.go_r, p.event_w, p.output_w, p.exe_fd, p.handoff_w}) close(fd);
  int wstatus = 0;
  while (waitpid(init, &wstatus, 0) < 0 && errno == EINTR) {
  }
  _exit(WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus));
}

// Reads the status pipe until a full line arrives (or EOF/timeout).
std::optional<std::string> read_status_line(int fd, std::string& buffer, int timeout_ms) {
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    auto nl = buffer.find('\n');
    if (nl != std::string::npos) {
      std::string line = buffer.substr(0, nl);
      buffer.erase(0, nl + 1);
      return line;
    }
    int left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return std::nullopt;
    pollfd pfd{fd, POLLIN, 0};
    if (poll(&pfd, 1, left) <= 0) continue;
    char buf[512];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) return std::nullopt;  // EOF
    buffer.append(buf, n);
  }
}

class Staging {
 public:
  bool create(std::string* error) {
    char tmpl[] = "/tmp/modelvet-jail-XXXXXX";
    if (!mkdtemp(tmpl)) {
      *error = fmt::format("mkdtemp: {}", strerror(errno));
      return false;
    }
    dir_ = tmpl;
    return true;
  }
  const std::string& dir() const { return dir_; }
  bool remove() {
    if (dir_.empty()) return true;
    std::error_code ec;
    fs::remove_all(dir_, ec);
    bool ok = !fs::exists(dir_);
    dir_.clear();
    return ok;
  }
  ~Staging() { remove(); }

 private:
  std::string dir_;
};

// True when no process on the host is in the pid namespace with this inode any more.
bool pid_namespace_empty(uint64_t inode) {
  if (inode == 0) return false;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    struct stat st{};
    if (stat((entry.path() / "ns/pid").c_str(), &st) == 0 && st.st_ino == inode) return false;
  }
  return !ec;
}

uint64_t inode_of(const std::string& path) {
  struct stat st{};
  return stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

}  // namespace

bool rootless_jails() { return geteuid() != 0; }

std::string isolation_label() { return rootless_jails() ? "userns+namespaces+seccomp" : "namespaces+seccomp"; }

JailOutcome run_jail(const JailConfig& cfg, const AttachFn& attach) {
  JailOutcome out;
  auto t_start = Clock::now();
  const bool rootless = rootless_jails();
  const int uid = kJailUidBase + cfg.slot;
  const std::string model_name = fs::path(cfg.model_path).filename().string();

  // 1. Host-side preparation: staging tree, decoys, cgroups, seccomp program, pipes.
  Staging staging;
  if (!staging.create(&out.error)) return out;
  fs::path stage = staging.dir();
  try {
    write_etc(stage / "etc", uid);
    // A private copy: the jail user can read it whatever the host file's mode, and nothing the
    // sample does can reach the original. SavedModel directories are copied whole.
    fs::create_directories(stage / "model");
    fs::path copy = stage / "model" / model_name;
    if (fs::is_directory(cfg.model_path)) {
      fs::copy(cfg.model_path, copy, fs::copy_options::recursive);
      for (auto& entry : fs::recursive_directory_iterator(copy))
        fs::permissions(entry.path(), entry.is_directory() ? fs::perms(0555) : fs::perms(0444));
      fs::permissions(copy, fs::perms(0555));
    } else {
      fs::copy_file(cfg.model_path, copy);
      fs::permissions(copy, fs::perms(0444));
    }
  } catch (const std::exception& e) {
    out.error = fmt::format("staging: {}", e.what());
    return out;
  }
  if (!write_decoy_home((stage / "home").string(), &out.decoys, &out.error)) return out;

  std::string name = fs::path(staging.dir()).filename().string();
  JailCgroup cgroup;
  V1Limits v1;
  if (!rootless) {
    cgroup = JailCgroup::create(name, &out.error);
    if (!cgroup.valid()) return out;
    v1 = V1Limits::create(name, cfg.limits.processes, cfg.limits.memory);
  }
  SeccompProgram seccomp = SeccompProgram::build(&out.error);
  if (!seccomp.valid()) return out;

  Pipe status, go, events, output, handoff;
  if (!status.open() || !go.open() || !events.open() || !output.open() || !handoff.open_socket_pair()) {
    out.error = fmt::format("pipe: {}", strerror(errno));
    return out;
  }
  int exe_fd = open(cfg.exe_path.c_str(), O_PATH | O_CLOEXEC);
  if (exe_fd < 0) {
    out.error = fmt::format("open {}: {}", cfg.exe_path, strerror(errno));
    return out;
  }

  ChildPlan plan{RootfsPlan{staging.dir(), model_name, uid, uid, cfg.limits},
                 &seccomp, {}, harness_env(out.decoys),
                 exe_fd, events.w, output.w, status.w, go.r, handoff.w,
                 {status.r, go.w, events.r, output.r, handoff.r},
                 rootless, geteuid(), getegid(), &cgroup, &v1};
  plan.argv.push_back("modelvet");
  for (const auto& a : cfg.harness_args)
    plan.argv.push_back(a == "{model}" ? jail_model_dir() + "/" + model_name : a);

  // 2. Fork the bridge, which unshares and forks the jail's pid 1.
  pid_t bridge = fork();
  if (bridge < 0) {
    close(exe_fd);
    out.error = fmt::format("fork: {}", strerror(errno));
    return out;
  }
  if (bridge == 0) jail_bridge(plan);
  close(exe_fd);
  status.close_w(), go.close_r(), events.close_w(), output.close_w(), handoff.close_w();
  int bridge_pidfd = static_cast<int>(syscall(SYS_pidfd_open, bridge, 0));
  int init_pidfd = -1;
  out.handle.user_namespace = rootless;

  // The whole tree: the jail's init first (its death takes every process of its pid namespace
  // along, and the bridge reaps it: no zombie is left to the host's init), then whatever the
  // cgroup, where there is one, still holds. True when that cgroup was emptied and removed.
  auto kill_jail = [&]() {
    if (init_pidfd >= 0 && syscall(SYS_pidfd_send_signal, init_pidfd, SIGKILL, nullptr, 0) == 0 && bridge_pidfd >= 0) {
      pollfd bridge_exit{bridge_pidfd, POLLIN, 0};
      poll(&bridge_exit, 1, 2000);
    }
    return !cgroup.valid() || cgroup.kill_and_remove();
  };
  auto abort_jail = [&](const std::string& why) {
    out.error = why;
    go.close_w();  // the jail's pid 1 reads EOF and exits without running anything
    kill_jail();
    if (bridge_pidfd >= 0) syscall(SYS_pidfd_send_signal, bridge_pidfd, SIGKILL, nullptr, 0);  // its death kills the init
    waitpid(bridge, nullptr, 0);
    for (int fd : {bridge_pidfd, init_pidfd}) if (fd >= 0) close(fd);
    return out;
  };

  // 3. Wait for the jail to be built; then prove it has no route out and attach the observers.
  // The bridge reports the init's pid and the init reports "ready"; the two race, so either
  // order is fine, and any other line is the failed step.
  std::string status_buf;
  std::optional<std::string> line;
  bool ready = false;
  while (!ready || out.handle.init_pid == 0) {
    line = read_status_line(status.r, status_buf, 20000);
    if (!line) return abort_jail("jail setup: no answer from the jail");
    if (line->rfind("pid ", 0) == 0) {
      out.handle.init_pid = std::atoi(line->c_str() + 4);
      init_pidfd = static_cast<int>(syscall(SYS_pidfd_open, out.handle.init_pid, 0));
    } else if (*line == "ready") {
      ready = true;
    } else {
      return abort_jail("jail setup: " + *line);
    }
  }
  if (init_pidfd < 0) return abort_jail("pidfd of the jail's init");

  out.handle.cgroup_fd = cgroup.dir_fd();
  out.handle.cgroup_path = cgroup.path();
  out.handle.staging_dir = staging.dir();
  out.handle.cgroup_id = cgroup.id();
  const std::string init_proc = fmt::format("/proc/{}", out.handle.init_pid);
  out.handle.pidns_inode = inode_of(init_proc + "/ns/pid");
  if (out.handle.pidns_inode == 0 || out.handle.pidns_inode == inode_of("/proc/self/ns/pid"))
    return abort_jail("jail has no pid namespace of its own");
  out.handle.netns = inspect_netns_of(out.handle.init_pid, &out.error);
  if (!out.handle.netns.isolated() || out.handle.netns.inode == inode_of("/proc/self/ns/net"))
    return abort_jail(fmt::format("jail network namespace is not isolated ({} interfaces, {} routes) {}",
                                  out.handle.netns.interfaces.size(), out.handle.netns.ipv4_routes, out.error));
  std::vector<int> net_fds;
  std::string net_status;
  if (!receive_fds(handoff.r, 2, 20000, &net_fds, &net_status) || net_status != "ok" || net_fds.size() != 2) {
    for (int fd : net_fds) close(fd);
    return abort_jail("jail setup: " + (net_status.empty() ? "no fake-network sockets from the jail" : net_status));
  }
  handoff.close_r();
  std::unique_ptr<FakeNetwork> net = FakeNetwork::serve(FakeNetSockets{net_fds[0], net_fds[1]}, &out.error);
  if (!net) return abort_jail("fake network: " + out.error);
  out.handle.tcp_port = net->tcp_port();
  out.handle.udp_port = net->udp_port();
  std::string attach_error;
  if (attach && !attach(out.handle, &attach_error)) {
    net->stop();
    return abort_jail("observer: " + attach_error);
  }

  // 4. Release the harness. EOF on the status pipe means the exec happened.
  out.setup_ms = ms_since(t_start);
  out.exec_t_ns = now_ns();
  auto t_run = Clock::now();
  if (write(go.w, "G", 1) != 1) {
    net->stop();
    return abort_jail("release jail");
  }
  go.close_w();
  line = read_status_line(status.r, status_buf, 10000);
  if (line) {
    net->stop();
    return abort_jail("jail start: " + *line);
  }
  out.ran = true;

  // 5. Collect the harness's events and output until it exits or the wall clock runs out.
  auto deadline = t_run + std::chrono::milliseconds(cfg.timeout_ms);
  std::string event_buf;
  size_t event_bytes = 0;
  bool bridge_done = false;
  while (!bridge_done) {
    int left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      out.timed_out = true;
      out.limits_hit.push_back("timeout");
      kill_jail();
      break;
    }
    pollfd fds[3] = {{events.r, POLLIN, 0}, {output.r, POLLIN, 0}, {bridge_pidfd, POLLIN, 0}};
    if (poll(fds, 3, std::min(left, 200)) < 0 && errno != EINTR) break;
    char buf[65536];
    if (fds[0].revents & (POLLIN | POLLHUP)) {
      ssize_t n = read(events.r, buf, sizeof buf);
      if (n > 0) {
        event_bytes += n;
        if (event_bytes <= cfg.max_event_bytes) event_buf.append(buf, n);
        else out.events_truncated = true;
      } else {
        events.close_r();
      }
    }
    if (fds[1].revents & (POLLIN | POLLHUP)) {
      ssize_t n = read(output.r, buf, sizeof buf);
      if (n > 0) {
        out.output.append(buf, n);
        if (out.output.size() > 2 * kMaxOutput) out.output.erase(0, out.output.size() - kMaxOutput);
      } else {
        output.close_r();
      }
    }
    if (fds[2].revents & POLLIN) bridge_done = true;
  }
  // The harness is gone (or killed): whatever is still buffered in the pipes is read now.
  for (Pipe* p : {&events, &output}) {
    if (p->r < 0) continue;
    fcntl(p->r, F_SETFL, O_NONBLOCK);
    char buf[65536];
    ssize_t n;
    while ((n = read(p->r, buf, sizeof buf)) > 0) {
      if (p == &events) {
        event_bytes += n;
        if (event_bytes <= cfg.max_event_bytes) event_buf.append(buf, n);
        else out.events_truncated = true;
      } else if (out.output.size() < 2 * kMaxOutput) {
        out.output.append(buf, n);
      }
    }
  }
  out.run_ms = ms_since(t_run);

  // 6. Teardown: whole tree, cgroups, fake network, staging. Verify nothing is left.
  auto t_down = Clock::now();
  bool cgroup_clean = kill_jail();
  int wstatus = 0;
  waitpid(bridge, &wstatus, 0);
  for (int fd : {bridge_pidfd, init_pidfd}) if (fd >= 0) close(fd);
  bool processes_gone = pid_namespace_empty(out.handle.pidns_inode);
  int code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
  if (code > 128 && code < 128 + 65) {
    out.term_signal = code - 128;
    std::string limit = limit_for_signal(out.term_signal);
    if (!limit.empty()) out.limits_hit.push_back(limit);
  } else {
    out.exit_code = code;
  }
  if (v1.memory_limit_hit()) out.limits_hit.push_back("memory");
  if (v1.pids_limit_hit()) out.limits_hit.push_back("pids");
  out.net_events = net->stop();
  net.reset();
  v1 = V1Limits();
  bool staging_clean = staging.remove();
  out.clean_teardown = cgroup_clean && processes_gone && staging_clean;
  out.teardown_ms = ms_since(t_down);

  size_t start = 0;
  while (start < event_buf.size()) {
    size_t nl = event_buf.find('\n', start);
    if (nl == std::string::npos) nl = event_buf.size();
    if (nl > start) out.event_lines.push_back(event_buf.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

}  // namespace modelvet::sandbox
