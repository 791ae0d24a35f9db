#pragma once
// Shared by the tracer tests: one Tracer for the whole test binary (one per process, as in
// production), throw-away cgroups, and children that join a cgroup before acting.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <iterator>
#include <set>
#include <memory>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "tracer/cgroup_info.h"
#include "tracer/tracer.h"

namespace modelvet::tracer::testing {

inline Tracer* shared_tracer() {
  static std::string error;
  static std::unique_ptr<Tracer> tracer = Tracer::start(&error);
  if (!tracer) ADD_FAILURE() << "Tracer::start failed: " << error;
  return tracer.get();
}

// <cgroup2>/modelvet-tracer-tests/<name>-<pid>, removed (with anything left inside) on scope exit.
class TestCgroup {
 public:
  explicit TestCgroup(const std::string& name) {
    std::string root = find_cgroup2_mount();
    if (root.empty()) {
      ADD_FAILURE() << "cgroup2 is not mounted";
      return;
    }
    parent_ = root + "/modelvet-tracer-tests";
    mkdir(parent_.c_str(), 0755);
    path_ = fmt::format("{}/{}-{}", parent_, name, getpid());
    if (mkdir(path_.c_str(), 0755) != 0 && errno != EEXIST) ADD_FAILURE() << "mkdir " << path_ << ": " << strerror(errno);
    fd_ = open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd_ < 0) ADD_FAILURE() << "open " << path_;
  }
  ~TestCgroup() {
    if (fd_ >= 0) close(fd_);
    // Anything a test left behind inside is killed before the directory can go.
    int kill_fd = open((path_ + "/cgroup.kill").c_str(), O_WRONLY | O_CLOEXEC);
    if (kill_fd >= 0) {
      (void)!write(kill_fd, "1", 1);
      close(kill_fd);
    }
    for (int i = 0; i < 200 && rmdir(path_.c_str()) != 0 && errno == EBUSY; ++i) usleep(10000);
    rmdir(parent_.c_str());  // fails harmlessly while another test's cgroup is still there
  }
  int fd() const { return fd_; }
  const std::string& path() const { return path_; }

  // Called in a forked child: moves the calling process in. Async-signal-safe.
  bool join() const {
    int procs = openat(fd_, "cgroup.procs", O_WRONLY | O_CLOEXEC);
    if (procs < 0) return false;
    bool ok = write(procs, "0", 1) == 1;
    close(procs);
    return ok;
  }

 private:
  std::string parent_, path_;
  int fd_ = -1;
};

// Forks a child that joins `cg` (unless null) and then runs body; returns its wait status.
inline int run_child(const TestCgroup* cg, const std::function<int()>& body, pid_t* child = nullptr) {
  pid_t pid = fork();
  if (pid == 0) {
    if (cg && !cg->join()) _exit(120);
    _exit(body());
  }
  if (child) *child = pid;
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

// Forks, execs argv in the child and waits: the child's own exit status.
inline int spawn_and_wait(const char* const argv[]) {
  pid_t pid = fork();
  if (pid == 0) {
    execv(argv[0], const_cast<char* const*>(argv));
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

// Forks a child (in `cg` when given) blocked on a pipe until released, so a tracer can attach
// before its first action; body runs after the release.
struct HeldChild {
  pid_t pid = -1;
  int go_w = -1;
  explicit HeldChild(const std::function<int()>& body, const TestCgroup* cg = nullptr) {
    int go[2];
    if (pipe2(go, O_CLOEXEC) != 0) return;
    pid = fork();
    if (pid == 0) {
      char c;
      if ((cg && !cg->join()) || read(go[0], &c, 1) != 1) _exit(120);
      _exit(body());
    }
    close(go[0]);
    go_w = go[1];
  }
  int release_and_wait() {
    (void)!write(go_w, "G", 1);
    close(go_w);
    int status = 0;
    waitpid(pid, &status, 0);
    return status;
  }
};

// What `a` holds and `b` does not, one per line: the failure message of a backend comparison.
inline std::string only_in_first(const std::multiset<std::string>& a, const std::multiset<std::string>& b) {
  std::vector<std::string> only;
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(only));
  std::string s;
  for (const auto& k : only) s += "  " + k + "\n";
  return s;
}

inline std::vector<const Event*> events_of_kind(const Events& events, const std::string& kind) {
  std::vector<const Event*> out;
  for (const auto& e : events)
    if (e.kind == kind) out.push_back(&e);
  return out;
}

// The first event of `kind` whose data satisfies pred, or nullptr.
inline const Event* find_event(const Events& events, const std::string& kind, const std::function<bool(const nlohmann::json&)>& pred) {
  for (const auto& e : events)
    if (e.kind == kind && pred(e.data)) return &e;
  return nullptr;
}

// A port on 127.0.0.1 that nothing listens on (bound, then released).
inline uint16_t closed_loopback_port(int type = SOCK_STREAM) {
  int s = socket(AF_INET, type, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(s, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  close(s);
  return ntohs(a.sin_port);
}

inline std::string dump(const Events& events, size_t max = 200) {
  std::string s;
  for (size_t i = 0; i < events.size() && i < max; ++i) s += to_json(events[i]).dump() + "\n";
  return s;
}

}  // namespace modelvet::tracer::testing
