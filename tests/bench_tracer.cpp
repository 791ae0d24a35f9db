// Benchmark: what recording costs the recorded program. A syscall-heavy load (open/read/close
// of /dev/null, getppid, a few fork+exec of /bin/true) and a typical one (Python importing
// numpy) run untraced, under modelvet's tracer and under `strace -f`, N rounds each in rotating
// order; prints medians and ratios.
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

#include "process/helper_mode.h"
#include "tracer/cgroup_info.h"
#include "tracer/ptrace_tracer.h"
#include "tracer/tracer.h"

namespace {

constexpr int kIterations = 200000;  // open+read+close of /dev/null
constexpr int kGetppidEvery = 4;     // plus one getppid per 4 iterations
constexpr int kExecs = 20;           // fork + exec /bin/true + wait
constexpr const char* kPython = "/usr/bin/python3";  // Debian's, with the victim libraries

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
  std::vector<uint64_t> events, folded, dropped;
};

// One load run untraced, traced and under strace -f, `rounds` times each in rotating order.
class Comparison {
 public:
  Comparison(const std::string& cgroup_parent, const std::string& backend, std::vector<std::string> load)
      : parent_(cgroup_parent), backend_(backend), load_(std::move(load)), plain_(parent_, "plain"), strace_cg_(parent_, "strace") {
    strace_load_ = {"/usr/bin/strace", "-f", "-qq", "-o", "/dev/null"};
    strace_load_.insert(strace_load_.end(), load_.begin(), load_.end());
    have_strace_ = access(strace_load_[0].c_str(), X_OK) == 0;
  }

  bool run(int rounds, modelvet::tracer::Tracer* ebpf, modelvet::tracer::PtraceTracer* ptracer) {
    bool ok = plain_round();  // warm-up: page cache, first-run costs; not counted
    untraced_ = {};
    for (int r = 0; r < rounds; ++r) {
      std::vector<std::function<bool()>> order = {[&] { return plain_round(); }, [&] { return traced_round(ebpf, ptracer); },
                                                  [&] { return strace_round(); }};
      std::rotate(order.begin(), order.begin() + r % 3, order.end());  // no method always follows another
      for (auto& step : order) ok = step() && ok;
    }
    return ok;
  }

  void print(const std::string& title) const {
    double base = median(untraced_.wall), base_cpu = median(untraced_.load_cpu);
    std::printf("%s\n", title.c_str());
    std::printf("  %-18s %9s %8s %9s %8s\n", "", "wall ms", "ratio", "cpu ms", "ratio");
    std::printf("  %-18s %9.1f %8s %9.1f %8s\n", "untraced", base, "", base_cpu, "");
    auto row = [&](const std::string& name, const Series& s) {
      double wall = median(s.wall), cpu = median(s.load_cpu);
      std::printf("  %-18s %9.1f %7.3fx %9.1f %7.3fx\n", name.c_str(), wall, wall / base, cpu, cpu / base_cpu);
    };
    row(fmt::format("modelvet ({})", backend_), traced_);
    if (have_strace_) row("strace -f", straced_);
    else std::printf("  strace -f: not installed (scripts/setup.sh installs it)\n");
    auto last = [](const std::vector<uint64_t>& v) { return static_cast<unsigned long long>(v.empty() ? 0 : v.back()); };
    std::printf("  modelvet: finish/drain %.1f ms, tracer process CPU %.1f ms, events %llu (+%llu repeats folded into them), dropped %llu\n",
                median(traced_.finish), median(traced_.tracer_cpu), last(traced_.events), last(traced_.folded), last(traced_.dropped));
  }

 private:
  bool plain_round() {
    RunTime t = timed_run(plain_, load_);
    if (t.wall_ms >= 0) untraced_.add(t);
    return t.wall_ms >= 0;
  }
  bool strace_round() {
    if (!have_strace_) return true;
    RunTime t = timed_run(strace_cg_, strace_load_);  // cpu: strace's own time included
    if (t.wall_ms >= 0) straced_.add(t);
    return t.wall_ms >= 0;
  }
  // A fresh cgroup watched for this run and finished (drained) after it: the whole cost.
  bool traced_round(modelvet::tracer::Tracer* ebpf, modelvet::tracer::PtraceTracer* ptracer) {
    Cgroup cg(parent_, "traced");
    std::string error;
    double cpu0 = cpu_ms(RUSAGE_SELF);
    modelvet::tracer::Stats stats;
    RunTime run;
    Clock::time_point finish_start;
    if (ebpf) {
      auto session = ebpf->watch(cg.fd(), {}, &error);
      if (!session) return std::fprintf(stderr, "watch: %s\n", error.c_str()), false;
      run = timed_run(cg, load_);
      finish_start = Clock::now();
      ebpf->finish(*session);
      stats = ebpf->stats(*session);
    } else {
      std::shared_ptr<modelvet::tracer::PtraceSession> session;
      run = timed_run(cg, load_, [&](pid_t pid) { session = ptracer->watch_process(pid, &error); });
      if (!session) return std::fprintf(stderr, "watch_process: %s\n", error.c_str()), false;
      finish_start = Clock::now();
      ptracer->finish(*session);
      stats = ptracer->stats(*session);
    }
    if (run.wall_ms < 0) return false;
    traced_.add(run);
    traced_.finish.push_back(ms_since(finish_start));
    traced_.tracer_cpu.push_back(cpu_ms(RUSAGE_SELF) - cpu0);
    traced_.events.push_back(stats.events);
    traced_.folded.push_back(stats.per_buffer["bulk"].value("folded", uint64_t{0}));
    traced_.dropped.push_back(stats.dropped);
    return true;
  }

  std::string parent_, backend_;
  std::vector<std::string> load_, strace_load_;
  bool have_strace_ = false;
  Cgroup plain_, strace_cg_;
  Series untraced_, traced_, straced_;
};

}  // namespace

int main(int argc, char** argv) {
  if (auto code = modelvet::process::run_helper_mode(argc, argv)) return *code;  // its jails' helpers
  if (argc > 1 && std::strcmp(argv[1], "--load") == 0) return run_load();
  int rounds = argc > 1 ? std::max(1, std::atoi(argv[1])) : 5;
  std::string backend = argc > 2 ? argv[2] : "ebpf";
  if (geteuid() != 0) {
    std::fprintf(stderr, "tracer_bench: run as root\n");
    return 2;
  }
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return 2;
  exe[n] = '\0';
  std::string root = modelvet::tracer::find_cgroup2_mount();
  if (root.empty()) {
    std::fprintf(stderr, "tracer_bench: cgroup2 is not mounted\n");
    return 2;
  }

  std::string error;
  std::unique_ptr<modelvet::tracer::Tracer> ebpf;
  std::unique_ptr<modelvet::tracer::PtraceTracer> ptracer;
  if (backend == "ptrace") ptracer = std::make_unique<modelvet::tracer::PtraceTracer>();
  else ebpf = modelvet::tracer::Tracer::start(&error);
  if (!ebpf && !ptracer) {
    std::fprintf(stderr, "tracer_bench: Tracer::start: %s\n", error.c_str());
    return 1;
  }
  std::string parent = fmt::format("{}/modelvet-bench-{}", root, getpid());
  mkdir(parent.c_str(), 0755);
  bool ok = true;
  {
    Comparison syscall_heavy(parent, backend, {exe, "--load"});
    ok = syscall_heavy.run(rounds, ebpf.get(), ptracer.get()) && ok;
    syscall_heavy.print(fmt::format(
        "syscall-heavy load: {} x open+read+close /dev/null, {} getppid, {} fork+exec /bin/true (~{} syscalls, {} of them "
        "recorded opens and closes); {} rounds",
        kIterations, kIterations / kGetppidEvery, kExecs, kIterations * 3 + kIterations / kGetppidEvery, kIterations * 2, rounds));
  }
  if (access(kPython, X_OK) == 0) {  // what a detonation does: start Python, import a framework
    Comparison python(parent, backend, {kPython, "-c", "import numpy"});
    ok = python.run(rounds, ebpf.get(), ptracer.get()) && ok;
    python.print(fmt::format("typical load: {} -c 'import numpy'; {} rounds", kPython, rounds));
  }
  std::printf("(medians; wall: fork to exit of the load; cpu: the load's own user+system time, which the other\n"
              " jobs of a shared machine disturb less)\n");
  rmdir(parent.c_str());
  return ok ? 0 : 1;
}
