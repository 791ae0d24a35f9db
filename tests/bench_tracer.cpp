// Benchmark: what recording costs the recorded program. One syscall-heavy load (open/read/close
// of /dev/null, getppid, a few fork+exec of /bin/true) run untraced, under modelvet's tracer and
// under `strace -f`, N rounds each in alternating order; prints medians and ratios.
// Run by scripts/bench.sh (as root), never as a timed unit test.
//   tracer_bench [ROUNDS] [BACKEND]   BACKEND: ebpf (default) or ptrace
//   tracer_bench --load               the load itself (what every round runs)
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "tracer/cgroup_info.h"
#include "tracer/ptrace_tracer.h"
#include "tracer/tracer.h"

namespace {

constexpr int kIterations = 200000;  // open+read+close of /dev/null
constexpr int kGetppidEvery = 4;     // plus one getppid per 4 iterations
constexpr int kExecs = 20;           // fork + exec /bin/true + wait

// The load: bounded, touches nothing but /dev/null and /bin/true.
int run_load() {
  char buf[1];
  for (int i = 0; i < kIterations; ++i) {
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 1;
    if (read(fd, buf, sizeof buf) < 0) return 2;
    close(fd);
    if (i % kGetppidEvery == 0) getppid();
  }
  for (int i = 0; i < kExecs; ++i) {
    pid_t pid = fork();
    if (pid == 0) {
      execl("/bin/true", "/bin/true", nullptr);
      _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return 3;
  }
  return 0;
}

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

double cpu_ms(int who) {
  rusage ru{};
  getrusage(who, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

// <cgroup2>/modelvet-bench-<pid>/<name>; removed by the destructor.
class Cgroup {
 public:
  Cgroup(const std::string& parent, const std::string& name) : path_(parent + "/" + name) {
    mkdir(path_.c_str(), 0755);
    fd_ = open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  }
  ~Cgroup() {
    if (fd_ >= 0) close(fd_);
    rmdir(path_.c_str());
  }
  int fd() const { return fd_; }
  bool join() const {  // in the forked child; async-signal-safe
    int procs = openat(fd_, "cgroup.procs", O_WRONLY | O_CLOEXEC);
    bool ok = procs >= 0 && write(procs, "0", 1) == 1;
    if (procs >= 0) close(procs);
    return ok;
  }

 private:
  std::string path_;
  int fd_ = -1;
};

struct RunTime {
  double wall_ms = -1;  // fork to exit
  double cpu_ms = 0;    // user + system time of the load and its children (wait4)
};

// Forks a child that joins `cg` and execs argv; `started` runs in the parent with its pid.
// wall_ms is -1 when it failed.
RunTime timed_run(const Cgroup& cg, const std::vector<std::string>& argv, const std::function<void(pid_t)>& started = {}) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int go[2];
  if (pipe2(go, O_CLOEXEC) != 0) return {};
  auto t0 = Clock::now();
  pid_t pid = fork();
  if (pid == 0) {
    char c;
    if (!cg.join() || read(go[0], &c, 1) != 1) _exit(120);  // waits until the observer is attached
    execv(args[0], args.data());
    _exit(127);
  }
  close(go[0]);
  if (started) started(pid);
  (void)!write(go[1], "G", 1);
  close(go[1]);
  int status = 0;
  rusage ru{};
  wait4(pid, &status, 0, &ru);
  RunTime t;
  t.wall_ms = ms_since(t0);
  t.cpu_ms = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "load failed: status %#x\n", status);
    t.wall_ms = -1;
  }
  return t;
}

struct Series {
  std::vector<double> wall, load_cpu, finish, tracer_cpu;
  void add(const RunTime& t) {
    wall.push_back(t.wall_ms);
    load_cpu.push_back(t.cpu_ms);
  }
  std::vector<uint64_t> events, dropped;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--load") == 0) return run_load();
  int rounds = argc > 1 ? std::max(1, std::atoi(argv[1])) : 5;
  std::string backend = argc > 2 ? argv[2] : "ebpf";
  if (geteuid() != 0) {
    std::fprintf(stderr, "tracer_bench: run as root\n");
    return 2;
  }
  std::string self = "/proc/self/exe";
  char exe[4096];
  ssize_t n = readlink(self.c_str(), exe, sizeof exe - 1);
  if (n <= 0) return 2;
  exe[n] = '\0';
  const std::vector<std::string> load = {exe, "--load"};
  std::vector<std::string> strace_load = {"/usr/bin/strace", "-f", "-qq", "-o", "/dev/null", exe, "--load"};
  bool have_strace = access(strace_load[0].c_str(), X_OK) == 0;

  std::string root = modelvet::tracer::find_cgroup2_mount();
  if (root.empty()) {
    std::fprintf(stderr, "tracer_bench: cgroup2 is not mounted\n");
    return 2;
  }
  std::string parent = fmt::format("{}/modelvet-bench-{}", root, getpid());
  mkdir(parent.c_str(), 0755);
  int rc = 0;
  {
    Cgroup plain(parent, "plain"), strace_cg(parent, "strace");
    std::string error;
    std::unique_ptr<modelvet::tracer::Tracer> ebpf;
    std::unique_ptr<modelvet::tracer::PtraceTracer> ptracer;
    if (backend == "ptrace") ptracer = std::make_unique<modelvet::tracer::PtraceTracer>();
    else ebpf = modelvet::tracer::Tracer::start(&error);
    if (!ebpf && !ptracer) {
      std::fprintf(stderr, "tracer_bench: Tracer::start: %s\n", error.c_str());
      return 1;
    }

    // One traced round: a fresh cgroup watched for this run, finished (drained) after it.
    Series untraced, traced, straced;
    auto traced_round = [&]() -> bool {
      Cgroup cg(parent, "traced");
      double cpu0 = cpu_ms(RUSAGE_SELF);
      modelvet::Events events;
      modelvet::tracer::Stats stats;
      RunTime run;
      double finish = 0;
      if (ebpf) {
        auto session = ebpf->watch(cg.fd(), {}, &error);
        if (!session) return std::fprintf(stderr, "watch: %s\n", error.c_str()), false;
        run = timed_run(cg, load);
        auto t = Clock::now();
        events = ebpf->finish(*session);
        finish = ms_since(t);
        stats = ebpf->stats(*session);
      } else {
        std::shared_ptr<modelvet::tracer::PtraceSession> session;
        run = timed_run(cg, load, [&](pid_t pid) { session = ptracer->watch_process(pid, &error); });
        if (!session) return std::fprintf(stderr, "watch_process: %s\n", error.c_str()), false;
        auto t = Clock::now();
        events = ptracer->finish(*session);
        finish = ms_since(t);
        stats = ptracer->stats(*session);
      }
      if (run.wall_ms < 0) return false;
      traced.add(run);
      traced.finish.push_back(finish);
      traced.tracer_cpu.push_back(cpu_ms(RUSAGE_SELF) - cpu0);
      traced.events.push_back(stats.events);
      traced.dropped.push_back(stats.dropped);
      return true;
    };
    auto plain_round = [&]() {
      RunTime t = timed_run(plain, load);
      if (t.wall_ms >= 0) untraced.add(t);
      return t.wall_ms >= 0;
    };
    auto strace_round = [&]() {
      if (!have_strace) return true;
      RunTime t = timed_run(strace_cg, strace_load);  // cpu: strace's own time included
      if (t.wall_ms >= 0) straced.add(t);
      return t.wall_ms >= 0;
    };

    plain_round();  // warm-up: page cache, /bin/true, first-run costs
    for (int r = 0; r < rounds; ++r) {
      // Rotate the order so no method always runs right after another.
      std::vector<std::function<bool()>> order = {plain_round, traced_round, strace_round};
      std::rotate(order.begin(), order.begin() + r % 3, order.end());
      for (auto& run : order)
        if (!run()) rc = 1;
    }
    untraced.wall.erase(untraced.wall.begin());  // drop the warm-up
    untraced.load_cpu.erase(untraced.load_cpu.begin());

    double base = median(untraced.wall), tr = median(traced.wall), st = median(straced.wall);
    double base_cpu = median(untraced.load_cpu), tr_cpu = median(traced.load_cpu), st_cpu = median(straced.load_cpu);
    int syscalls = kIterations * 3 + kIterations / kGetppidEvery;
    std::printf("load: %d x open+read+close /dev/null, %d getppid, %d fork+exec /bin/true (~%d syscalls); %d rounds\n",
                kIterations, kIterations / kGetppidEvery, kExecs, syscalls, rounds);
    std::printf("  %-18s %9s %8s %9s %8s\n", "", "wall ms", "ratio", "cpu ms", "ratio");
    std::printf("  %-18s %9.1f %8s %9.1f %8s\n", "untraced", base, "", base_cpu, "");
    std::printf("  %-18s %9.1f %7.3fx %9.1f %7.3fx\n", fmt::format("modelvet ({})", backend).c_str(), tr, tr / base, tr_cpu,
                tr_cpu / base_cpu);
    if (have_strace)
      std::printf("  %-18s %9.1f %7.3fx %9.1f %7.3fx\n", "strace -f", st, st / base, st_cpu, st_cpu / base_cpu);
    else
      std::printf("  strace -f: not installed (scripts/setup.sh installs it)\n");
    std::printf("  modelvet: finish/drain %.1f ms, tracer process CPU %.1f ms, events %llu, dropped %llu (over the session cap)\n",
                median(traced.finish), median(traced.tracer_cpu),
                static_cast<unsigned long long>(traced.events.empty() ? 0 : traced.events.back()),
                static_cast<unsigned long long>(traced.dropped.empty() ? 0 : traced.dropped.back()));
    std::printf("  (medians; wall: fork to exit of the load; cpu: the load's own user+system time, which the\n"
                "   other jobs on a shared machine disturb less)\n");
  }
  rmdir(parent.c_str());
  return rc;
}
