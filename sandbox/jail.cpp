// One jail from the supervisor's side: named setup steps, fail closed, verified teardown.
#include "sandbox/jail.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "sandbox/cgroup.h"
#include "sandbox/channels.h"
#include "sandbox/exec_bridge.h"
#include "sandbox/fd_passing.h"
#include "sandbox/jail_child.h"
#include "sandbox/ns_check.h"
#include "sandbox/pid_lookup.h"
#include "sandbox/rootfs.h"
#include "sandbox/seccomp_filter.h"
#include "sandbox/staging.h"
#include "sandbox/zygote.h"

namespace modelvet::sandbox {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kMaxOutput = 64 * 1024;

uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
}

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

std::vector<std::string> harness_env(const Decoys& decoys) {
  std::vector<std::string> env = {
      "HOME=" + std::string(kJailHome),   "USER=" + std::string(kJailUser), "LOGNAME=" + std::string(kJailUser),
      "SHELL=/bin/bash",                  "PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8",
      "HOSTNAME=" + std::string(kJailHostname), "PWD=" + jail_model_dir(), "TERM=xterm-256color",
  };
  for (const auto& [name, value] : decoys.env) env.push_back(name + "=" + value);
  if (kSanitizerBuild) {
    // The harness is this binary exec'd with a clean environment: its sanitizer options are
    // set here, for the harness process only. LeakSanitizer is off in it: embedded CPython
    // keeps interned objects past Py_FinalizeEx by design, and the leak check stops the world
    // with ptrace, which the jail's seccomp filter denies (and the tracer would record).
    // symbolize=0: a report must not spawn llvm-symbolizer inside the traced jail.
    const char* asan = getenv("ASAN_OPTIONS");
    const char* ubsan = getenv("UBSAN_OPTIONS");
    env.push_back(std::string("ASAN_OPTIONS=") + (asan ? std::string(asan) + ":" : "") + "detect_leaks=0:symbolize=0");
    env.push_back(std::string("UBSAN_OPTIONS=") + (ubsan ? std::string(ubsan) + ":" : "") +
                  "halt_on_error=1:print_stacktrace=1:symbolize=0");
  }
  return env;
}

// One run_jail call. Members are declared in the order they are made, so they are released in
// reverse: the fake network and the pipes first, the cgroups, then the staging dir last.
class Jail {
 public:
  Jail(const JailConfig& cfg, JailOutcome& out)
      : cfg_(cfg), out_(out), rootless_(rootless_jails()), uid_(kJailUidBase + cfg.slot),
        model_name_(fs::path(cfg.model_path).filename().string()) {}

  // Host side, before any fork: a failure leaves nothing but what the destructors release.
  bool stage();
  bool prepare_host();
  bool start_bridge();
  // The jail exists from here: on a failure, abort_setup() kills it before anything runs in it.
  bool await_ready();
  bool verify_isolation();
  bool serve_fake_network();
  bool attach_observers(const AttachFn& attach);
  bool release_harness();
  void abort_setup();
  // The harness ran.
  void collect();
  void teardown();
  void split_event_lines();

 private:
  bool fail(std::string why);
  bool kill_jail();
  int reap_bridge();
  void identify_harness();
  void append_events(const char* buf, ssize_t n);
  void close_pidfds();

  const JailConfig& cfg_;
  JailOutcome& out_;
  const Clock::time_point t_start_ = Clock::now();
  Clock::time_point t_run_;
  const bool rootless_;
  const int uid_;
  const std::string model_name_;
  Staging staging_;
  JailCgroup cgroup_;
  V1Limits v1_;
  SeccompProgram seccomp_;
  Pipe status_, go_, events_, output_, handoff_, exit_;
  pid_t bridge_ = -1;
  bool harness_identified_ = false;
  bool bridge_is_child_ = true;  // false when a zygote forked it: its exit code comes on exit_
  int bridge_pidfd_ = -1, init_pidfd_ = -1;
  std::string status_buf_, event_buf_;
  size_t event_bytes_ = 0;
  std::unique_ptr<FakeNetwork> net_;
};

bool Jail::fail(std::string why) {
  out_.error = std::move(why);
  return false;
}

// 1. The staging tree: generated /etc, the model's private copy, the decoy home.
bool Jail::stage() {
  return staging_.create(&out_.error) && fill_staging(staging_, cfg_.model_path, uid_, &out_.decoys, &out_.error, cfg_.model_siblings);
}

// 2. What the children only copy: the cgroups (root), the seccomp program, the pipes.
bool Jail::prepare_host() {
  std::string name = fs::path(staging_.dir()).filename().string();
  if (!rootless_) {
    cgroup_ = JailCgroup::create(name, &out_.error);
    if (!cgroup_.valid()) return false;
    v1_ = V1Limits::create(name, cfg_.limits.processes, cfg_.limits.memory);
  }
  seccomp_ = cfg_.test_only_seccomp ? *cfg_.test_only_seccomp : SeccompProgram::build(&out_.error);
  if (!seccomp_.valid()) return false;
  if (!status_.open() || !go_.open() || !events_.open() || !output_.open() || !handoff_.open_socket_pair() ||
      (cfg_.zygote && !exit_.open()))
    return fail(fmt::format("pipe: {}", strerror(errno)));
  return true;
}

// 3. Start the bridge (exec'd, or forked by a zygote), which unshares and forks the jail's pid 1.
bool Jail::start_bridge() {
  int exe_fd = open(cfg_.exe_path.c_str(), O_PATH | O_CLOEXEC);
  if (exe_fd < 0) return fail(fmt::format("open {}: {}", cfg_.exe_path, strerror(errno)));
  ChildPlan plan{RootfsPlan{staging_.dir(), model_name_, uid_, uid_, cfg_.limits},
                 &seccomp_, {}, harness_env(out_.decoys),
                 exe_fd, events_.w, output_.w, status_.w, go_.r, handoff_.w,
                 rootless_, geteuid(), getegid(), &cgroup_, &v1_, /*zygote=*/0, /*exit_w=*/-1, {}};
  plan.argv.push_back("modelvet");
  for (const auto& a : cfg_.harness_args)
    plan.argv.push_back(a == "{model}" ? jail_model_dir() + "/" + model_name_ : a);
  if (cfg_.zygote) {
    plan.exit_w = exit_.w;
    std::string why;
    bridge_ = cfg_.zygote->spawn_bridge(plan, &why);
    bridge_is_child_ = bridge_ < 0;
    out_.launch = bridge_ > 0 ? "zygote " + cfg_.zygote->name() : "exec (" + why + ")";
    plan.exit_w = -1;
  }
  std::string spawn_error;
  if (bridge_is_child_) bridge_ = spawn_exec_bridge(plan, &spawn_error);
  close(exe_fd);
  if (bridge_ < 0) return fail(spawn_error);
  status_.close_w(), go_.close_r(), events_.close_w(), output_.close_w(), handoff_.close_w(), exit_.close_w();
  bridge_pidfd_ = static_cast<int>(syscall(SYS_pidfd_open, bridge_, 0));
  out_.handle.user_namespace = rootless_;
  return true;
}

// 4. The bridge reports the init's pid and the init reports "ready"; the two race, so either
// order is fine, and any other line is the failed step.
bool Jail::await_ready() {
  bool ready = false;
  while (!ready || out_.handle.init_pid == 0) {
    std::optional<std::string> line = read_status_line(status_.r, status_buf_, 20000);
    if (!line) return fail("jail setup: no answer from the jail");
    if (line->rfind("pid ", 0) == 0) {
      out_.handle.init_pid = std::atoi(line->c_str() + 4);
      init_pidfd_ = static_cast<int>(syscall(SYS_pidfd_open, out_.handle.init_pid, 0));
    } else if (*line == "ready") {
      ready = true;
    } else {
      return fail("jail setup: " + *line);
    }
  }
  if (init_pidfd_ < 0) return fail("pidfd of the jail's init");
  return true;
}

// 5. Prove the jail has namespaces of its own and no route out, without entering them.
bool Jail::verify_isolation() {
  out_.handle.cgroup_fd = cgroup_.dir_fd();
  out_.handle.cgroup_path = cgroup_.path();
  out_.handle.staging_dir = staging_.dir();
  out_.handle.cgroup_id = cgroup_.id();
  const std::string init_proc = fmt::format("/proc/{}", out_.handle.init_pid);
  out_.handle.pidns_inode = inode_of(init_proc + "/ns/pid");
  if (out_.handle.pidns_inode == 0 || out_.handle.pidns_inode == inode_of("/proc/self/ns/pid"))
    return fail("jail has no pid namespace of its own");
  out_.handle.netns = inspect_netns_of(out_.handle.init_pid, &out_.error);
  if (!out_.handle.netns.isolated() || out_.handle.netns.inode == inode_of("/proc/self/ns/net"))
    return fail(fmt::format("jail network namespace is not isolated ({} interfaces, {} routes) {}",
                            out_.handle.netns.interfaces.size(), out_.handle.netns.ipv4_routes, out_.error));
  return true;
}

// 6. Serve the sockets the bridge bound inside the jail's netns.
bool Jail::serve_fake_network() {
  std::vector<int> net_fds;
  std::string net_status;
  if (!receive_fds(handoff_.r, 3, 20000, &net_fds, &net_status) || net_status != "ok" || net_fds.size() < 2) {
    for (int fd : net_fds) close(fd);
    return fail("jail setup: " + (net_status.empty() ? "no fake-network sockets from the jail" : net_status));
  }
  handoff_.close_r();
  net_ = FakeNetwork::serve(FakeNetSockets{net_fds[0], net_fds[1], net_fds.size() > 2 ? net_fds[2] : -1}, &out_.error);
  if (!net_) return fail("fake network: " + out_.error);
  out_.handle.tcp_port = net_->tcp_port();
  out_.handle.udp_port = net_->udp_port();
  return true;
}

// 7. The tracer, before the sample's first instruction.
bool Jail::attach_observers(const AttachFn& attach) {
  std::string attach_error;
  if (attach && !attach(out_.handle, &attach_error)) return fail("observer: " + attach_error);
  return true;
}

// 8. Release the harness. EOF on the status pipe means the exec happened.
bool Jail::release_harness() {
  out_.setup_ms = ms_since(t_start_);
  out_.exec_t_ns = now_ns();
  t_run_ = Clock::now();
  if (write(go_.w, "G", 1) != 1) return fail("release jail");
  go_.close_w();
  std::optional<std::string> line = read_status_line(status_.r, status_buf_, 10000);
  if (line) return fail("jail start: " + *line);
  out_.ran = true;
  return true;
}

// The whole tree: the jail's init first (its death takes every process of its pid namespace
// along, and the bridge reaps it: no zombie is left to the host's init), then whatever the
// cgroup, where there is one, still holds. True when that cgroup was emptied and removed.
bool Jail::kill_jail() {
  if (init_pidfd_ >= 0 && syscall(SYS_pidfd_send_signal, init_pidfd_, SIGKILL, nullptr, 0) == 0 && bridge_pidfd_ >= 0) {
    pollfd bridge_exit{bridge_pidfd_, POLLIN, 0};
    poll(&bridge_exit, 1, 2000);
  }
  return !cgroup_.valid() || cgroup_.kill_and_remove();
}

void Jail::close_pidfds() {
  for (int fd : {bridge_pidfd_, init_pidfd_}) if (fd >= 0) close(fd);
  bridge_pidfd_ = init_pidfd_ = -1;
}

// Fail closed: out_.error already names the failed step; nothing of the sample runs.
void Jail::abort_setup() {
  if (net_) net_->stop();
  go_.close_w();  // the jail's pid 1 reads EOF and exits without running anything
  kill_jail();
  if (bridge_pidfd_ >= 0) syscall(SYS_pidfd_send_signal, bridge_pidfd_, SIGKILL, nullptr, 0);  // its death kills the init
  if (bridge_is_child_) waitpid(bridge_, nullptr, 0);  // else the zygote reaps it
  close_pidfds();
}

void Jail::append_events(const char* buf, ssize_t n) {
  event_bytes_ += n;
  if (event_bytes_ <= cfg_.max_event_bytes) event_buf_.append(buf, n);
  else out_.events_truncated = true;
  if (!harness_identified_) identify_harness();
}

// The harness's first line carries its pid in the jail; while it lives, /proc maps that to the
// host pid the kernel's events carry (a harness forked from a zygote has no exec to tell it by).
void Jail::identify_harness() {
  size_t nl = event_buf_.find('\n');
  if (nl == std::string::npos) return;
  harness_identified_ = true;
  auto first = nlohmann::json::parse(event_buf_.substr(0, nl), nullptr, false);
  if (first.is_object() && first.contains("pid") && first["pid"].is_number_integer())
    out_.harness_host_pid = host_pid_of(out_.handle.init_pid, out_.handle.pidns_inode, first["pid"].get<pid_t>());
}

// 9. The harness's events and output until it exits or the wall clock runs out; then whatever
// is still buffered in the pipes.
void Jail::collect() {
  auto deadline = t_run_ + std::chrono::milliseconds(cfg_.timeout_ms);
  char buf[65536];
  for (bool bridge_done = false; !bridge_done;) {
    int left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      out_.timed_out = true;
      out_.limits_hit.push_back("timeout");
      kill_jail();
      break;
    }
    pollfd fds[3] = {{events_.r, POLLIN, 0}, {output_.r, POLLIN, 0}, {bridge_pidfd_, POLLIN, 0}};
    if (poll(fds, 3, std::min(left, 200)) < 0 && errno != EINTR) break;
    if (fds[0].revents & (POLLIN | POLLHUP)) {
      ssize_t n = read(events_.r, buf, sizeof buf);
      if (n > 0) append_events(buf, n);
      else events_.close_r();
    }
    if (fds[1].revents & (POLLIN | POLLHUP)) {
      ssize_t n = read(output_.r, buf, sizeof buf);
      if (n <= 0) {
        output_.close_r();
      } else {
        out_.output.append(buf, n);  // a bounded tail: the end of a traceback is what matters
        if (out_.output.size() > 2 * kMaxOutput) out_.output.erase(0, out_.output.size() - kMaxOutput);
      }
    }
    if (fds[2].revents & POLLIN) bridge_done = true;
  }
  for (Pipe* p : {&events_, &output_}) {
    if (p->r < 0) continue;
    fcntl(p->r, F_SETFL, O_NONBLOCK);
    ssize_t n;
    while ((n = read(p->r, buf, sizeof buf)) > 0) {
      if (p == &events_) append_events(buf, n);
      else if (out_.output.size() < 2 * kMaxOutput) out_.output.append(buf, n);
    }
  }
  out_.run_ms = ms_since(t_run_);
}

// 10. Whole tree, cgroups, fake network, staging; clean_teardown only when each is verified gone.
void Jail::teardown() {
  auto t_down = Clock::now();
  // Before the kill: the v2 directory goes with it.
  out_.memory_peak_bytes = v1_.memory_peak_bytes();
  if (out_.memory_peak_bytes == 0 && cgroup_.valid()) out_.memory_peak_bytes = cgroup_.memory_peak_bytes();
  bool cgroup_clean = kill_jail();
  int code = reap_bridge();
  // pid 1's exit proves the namespace empty; the walk of the host's /proc only where it did not
  // show (a zygote's bridge reaps pid 1 and is killed with it; its pidfd still tells).
  bool processes_gone = namespace_init_exited(init_pidfd_, 1000) || pid_namespace_empty(out_.handle.pidns_inode);
  close_pidfds();
  if (code > 128 && code < 128 + 65) {
    out_.term_signal = code - 128;
    std::string limit = limit_for_signal(out_.term_signal);
    if (!limit.empty()) out_.limits_hit.push_back(limit);
  } else {
    out_.exit_code = code;
  }
  if (v1_.memory_limit_hit()) out_.limits_hit.push_back("memory");
  if (v1_.pids_limit_hit()) out_.limits_hit.push_back("pids");
  out_.net_events = net_->stop();
  net_.reset();
  v1_ = V1Limits();
  bool staging_clean = staging_.remove();
  out_.clean_teardown = cgroup_clean && processes_gone && staging_clean;
  out_.teardown_ms = ms_since(t_down);
}

// The bridge's exit code (the harness's, or 128+signal). A zygote's bridge writes it on the
// exit pipe before it exits; none there (it was killed) reads as SIGKILL.
int Jail::reap_bridge() {
  if (bridge_is_child_) {
    int wstatus = 0;
    waitpid(bridge_, &wstatus, 0);
    return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
  }
  if (bridge_pidfd_ >= 0) {
    pollfd gone{bridge_pidfd_, POLLIN, 0};
    poll(&gone, 1, 2000);
  }
  std::string buf;
  std::optional<std::string> line = read_status_line(exit_.r, buf, 1000);
  if (line && line->rfind("exit ", 0) == 0) return std::atoi(line->c_str() + 5);
  return 128 + SIGKILL;
}

void Jail::split_event_lines() {
  size_t start = 0;
  while (start < event_buf_.size()) {
    size_t nl = event_buf_.find('\n', start);
    if (nl == std::string::npos) nl = event_buf_.size();
    if (nl > start) out_.event_lines.push_back(event_buf_.substr(start, nl - start));
    start = nl + 1;
  }
}

}  // namespace

bool rootless_jails() { return geteuid() != 0; }

std::string isolation_label() { return rootless_jails() ? "userns+namespaces+seccomp" : "namespaces+seccomp"; }

JailOutcome run_jail(const JailConfig& cfg, const AttachFn& attach) {
  JailOutcome out;
  Jail jail(cfg, out);
  if (!jail.stage() || !jail.prepare_host() || !jail.start_bridge()) return out;
  if (!jail.await_ready() || !jail.verify_isolation() || !jail.serve_fake_network() ||
      !jail.attach_observers(attach) || !jail.release_harness()) {
    jail.abort_setup();
    return out;
  }
  jail.collect();
  jail.teardown();
  jail.split_event_lines();
  return out;
}

}  // namespace modelvet::sandbox
