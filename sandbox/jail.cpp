#include "sandbox/jail.h"

#include <cstring>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>

#include <fmt/core.h>

#include "sandbox/cgroup.h"
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

struct Pipe {
  int r = -1, w = -1;
  bool open(int flags = O_CLOEXEC) {
    int fds[2];
    if (pipe2(fds, flags) != 0) return false;
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
  for (const char* name : {"ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "protocols", "services",
                           "python3", "python3.11", "alternatives", "mime.types", "os-release", "debian_version"}) {
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
  const JailCgroup* cgroup;
  const V1Limits* v1;
};

// In the harness process: lay out the descriptors it expects, close every other one, exec.
[[noreturn]] void exec_harness(const ChildPlan& p, int status) {
  int devnull = open("/dev/null", O_RDONLY);
  if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(p.output_w, 1) < 0 || dup2(p.output_w, 2) < 0 ||
      dup2(p.event_w, kEventFd) < 0 || dup3(status, kStatusFd, O_CLOEXEC) < 0 || dup3(p.exe_fd, kExeFd, O_CLOEXEC) < 0)
    child_fail(status, "dup2");
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
  std::string error;
  if (sethostname(kJailHostname, strlen(kJailHostname)) != 0) child_fail(status, "sethostname");
  if (!enter_rootfs(p.rootfs, &error)) child_fail(status, error);
  if (const char* failed = apply_rlimits(p.rootfs.limits)) child_fail(status, fmt::format("setrlimit {}: {}", failed, strerror(errno)));
  // Capabilities: empty the bounding set while we still may, then become the jail user,
  // which clears the permitted and effective sets.
  for (int cap = 0; cap <= CAP_LAST_CAP; ++cap) prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
  gid_t gid = p.rootfs.gid;
  if (setgroups(1, &gid) != 0 || setresgid(gid, gid, gid) != 0) child_fail(status, "setresgid");
  if (setresuid(p.rootfs.uid, p.rootfs.uid, p.rootfs.uid) != 0) child_fail(status, "setresuid");
  if (prctl(PR_SET_DUMPABLE, 0) != 0) child_fail(status, "PR_SET_DUMPABLE");

  (void)!write(status, "ready\n", 6);
  char go = 0;
  if (read(p.go_r, &go, 1) != 1 || go != 'G') _exit(126);  // supervisor gave up: run nothing

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

// The bridge process: joins the cgroups, unshares, forks the jail's pid 1, reports its pid,
// and mirrors its exit status (exit code, or 128+signal).
[[noreturn]] void jail_bridge(const ChildPlan& p) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (!p.cgroup->add_self()) child_fail(p.status_w, "join cgroup");
  p.v1->add_self();  // optional limits: best effort, reported by doctor
  if (unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWPID | CLONE_NEWCGROUP) != 0)
    child_fail(p.status_w, fmt::format("unshare: {}", strerror(errno)));
  pid_t init = fork();
  if (init < 0) child_fail(p.status_w, "fork jail init");
  if (init == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    jail_init(p);
  }
  std::string msg = fmt::format("pid {}\n", init);
  (void)!write(p.status_w, msg.data(), msg.size());
  for (int fd : {p.status_w, p.go_r, p.event_w, p.output_w, p.exe_fd}) close(fd);
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

}  // namespace

JailOutcome run_jail(const JailConfig& cfg, const AttachFn& attach) {
  JailOutcome out;
  auto t_start = Clock::now();
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
  JailCgroup cgroup = JailCgroup::create(name, &out.error);
  if (!cgroup.valid()) return out;
  V1Limits v1 = V1Limits::create(name, cfg.limits.processes, cfg.limits.memory);
  SeccompProgram seccomp = SeccompProgram::build(&out.error);
  if (!seccomp.valid()) return out;

  Pipe status, go, events, output;
  if (!status.open() || !go.open() || !events.open() || !output.open()) {
    out.error = fmt::format("pipe: {}", strerror(errno));
    return out;
  }
  int exe_fd = open(cfg.exe_path.c_str(), O_PATH | O_CLOEXEC);
  if (exe_fd < 0) {
    out.error = fmt::format("open {}: {}", cfg.exe_path, strerror(errno));
    return out;
  }

  ChildPlan plan{RootfsPlan{staging.dir(), model_name, uid, uid, cfg.limits}, &seccomp, {}, harness_env(out.decoys),
                 exe_fd, events.w, output.w, status.w, go.r, &cgroup, &v1};
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
  status.close_w(), go.close_r(), events.close_w(), output.close_w();
  int bridge_pidfd = static_cast<int>(syscall(SYS_pidfd_open, bridge, 0));

  auto abort_jail = [&](const std::string& why) {
    out.error = why;
    go.close_w();  // the jail's pid 1 reads EOF and exits without running anything
    cgroup.kill_and_remove();
    waitpid(bridge, nullptr, 0);
    if (bridge_pidfd >= 0) close(bridge_pidfd);
    if (out.handle.netns_fd >= 0) close(out.handle.netns_fd);
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
    if (line->rfind("pid ", 0) == 0) out.handle.init_pid = std::atoi(line->c_str() + 4);
    else if (*line == "ready") ready = true;
    else return abort_jail("jail setup: " + *line);
  }

  out.handle.cgroup_fd = cgroup.dir_fd();
  out.handle.cgroup_path = cgroup.path();
  out.handle.staging_dir = staging.dir();
  out.handle.cgroup_id = cgroup.id();
  out.handle.netns_fd = open(fmt::format("/proc/{}/ns/net", out.handle.init_pid).c_str(), O_RDONLY | O_CLOEXEC);
  if (out.handle.netns_fd < 0) return abort_jail("open jail netns");
  out.handle.netns = inspect_netns(out.handle.netns_fd, &out.error);
  if (!out.handle.netns.isolated())
    return abort_jail(fmt::format("jail network namespace is not isolated ({} interfaces, {} routes) {}",
                                  out.handle.netns.interfaces.size(), out.handle.netns.ipv4_routes, out.error));
  std::unique_ptr<FakeNetwork> net = FakeNetwork::start(out.handle.netns_fd, &out.error);
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
      cgroup.kill_and_remove();
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
  bool cgroup_clean = cgroup.kill_and_remove();
  int wstatus = 0;
  waitpid(bridge, &wstatus, 0);
  if (bridge_pidfd >= 0) close(bridge_pidfd);
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
  close(out.handle.netns_fd);
  out.handle.netns_fd = -1;
  v1 = V1Limits();
  bool staging_clean = staging.remove();
  out.clean_teardown = cgroup_clean && staging_clean;
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
