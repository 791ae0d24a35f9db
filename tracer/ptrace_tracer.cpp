// The ptrace backend's sessions: one helper process per followed tree (tracer/ptrace_loop.h
// says why a process and not a thread), writing decoded events as JSON lines into a memfd the
// caller reads back once the helper is done.
#include "tracer/ptrace_tracer.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include <fmt/format.h>

#include "process/helper_mode.h"
#include "tracer/event_linker.h"
#include "tracer/ptrace_loop.h"
#include "tracer/session.h"

namespace modelvet::tracer {
namespace {

constexpr int kOutFd = 3, kStatusFd = 4;  // the helper's only descriptors beyond stdio
const char* const kRingNames[MV_RING_COUNT] = {"high", "bulk"};

constexpr const char* kHelperMode = "__ptrace-helper";

// The helper process (argv: __ptrace-helper <target pid> <tcp port> <udp port> <parent pid>;
// the memfd on 3, the status pipe on 4): seize, report "ok" (or why not), trace until the tree
// is gone.
int helper_main(int argc, char** argv) {
  if (argc != 6) return 2;
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != pid_t(std::atoi(argv[5]))) _exit(127);  // the parent died before the prctl took
  const pid_t target = pid_t(std::atoi(argv[2]));
  RedirectTarget steer{uint16_t(std::atoi(argv[3])), uint16_t(std::atoi(argv[4]))};
  PtraceLoop loop;
  loop.steer_to(steer);
  std::string error;
  if (!loop.seize(target, &error)) {
    (void)!write(kStatusFd, error.data(), error.size());
    _exit(1);
  }
  (void)!write(kStatusFd, "ok", 2);
  close(kStatusFd);

  FILE* out = fdopen(kOutFd, "w");
  std::array<uint64_t, MV_RING_COUNT> emitted{}, kept{}, capped{};
  uint64_t stops = loop.run([&](Event e, int ring) {
    ring &= 1;
    ++emitted[ring];
    if (kept[ring] >= Session::kMaxKept[ring]) {  // the eBPF backend's per-session caps
      ++capped[ring];
      return;
    }
    ++kept[ring];
    std::string line = to_json(e).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    line += '\n';
    fwrite(line.data(), 1, line.size(), out);
  });
  nlohmann::json totals = {{"emitted", emitted}, {"kept", kept}, {"capped", capped}, {"stops", stops}};
  fmt::print(out, "{}\n", nlohmann::json{{"_ptrace_totals", totals}}.dump());
  fflush(out);
  _exit(0);
}

const process::HelperMode kHelper{kHelperMode, helper_main};

}  // namespace

class PtraceSession {
 public:
  PtraceSession(pid_t helper, int pidfd, int memfd) : helper_(helper), pidfd_(pidfd), memfd_(memfd) {}
  ~PtraceSession() {
    if (!finished_) {  // never finished: stop tracing (and, fail closed, the tracees)
      kill(helper_, SIGKILL);
      waitpid(helper_, nullptr, 0);
    }
    close(pidfd_);
    close(memfd_);
  }
  PtraceSession(const PtraceSession&) = delete;
  PtraceSession& operator=(const PtraceSession&) = delete;

  Events finish(int timeout_ms) {
    std::lock_guard lock(mu_);
    if (finished_) return {};
    finished_ = true;
    pollfd p{pidfd_, POLLIN, 0};
    bool killed = poll(&p, 1, timeout_ms) <= 0;
    if (killed) kill(helper_, SIGKILL);
    while (waitpid(helper_, nullptr, 0) < 0 && errno == EINTR) {
    }
    Events raw = read_events();
    Events events = link_events(std::move(raw));
    stats_.events = events.size();
    stats_.per_buffer = nlohmann::json::object();
    for (int r = 0; r < MV_RING_COUNT; ++r) {
      uint64_t capped = totals_.value("capped", nlohmann::json::array({0, 0}))[r].get<uint64_t>();
      stats_.dropped += capped;
      stats_.per_buffer[kRingNames[r]] = {{"emitted", totals_.value("emitted", nlohmann::json::array({0, 0}))[r]},
                                          {"dropped", 0},
                                          {"capped", capped},
                                          {"kept", totals_.value("kept", nlohmann::json::array({0, 0}))[r]}};
    }
    stats_.per_buffer["backend"] = "ptrace";
    stats_.per_buffer["stops"] = totals_.value("stops", 0);
    stats_.per_buffer["killed"] = killed;
    return events;
  }

  Stats stats() const {
    std::lock_guard lock(mu_);
    return stats_;
  }

 private:
  // The helper's JSON lines; the last one carries its totals (absent when it was killed).
  Events read_events() {
    Events events;
    lseek(memfd_, 0, SEEK_SET);
    FILE* in = fdopen(dup(memfd_), "r");
    if (!in) return events;
    char* line = nullptr;
    size_t cap = 0;
    while (getline(&line, &cap, in) > 0) {
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object()) continue;
      if (j.contains("_ptrace_totals")) totals_ = j["_ptrace_totals"];
      else events.push_back(event_from_json(j));
    }
    free(line);
    fclose(in);
    return events;
  }

  const pid_t helper_;
  const int pidfd_, memfd_;
  mutable std::mutex mu_;
  bool finished_ = false;
  nlohmann::json totals_ = nlohmann::json::object();
  Stats stats_;
};

std::shared_ptr<PtraceSession> PtraceTracer::watch_process(pid_t pid, std::string* error,
                                                           const RedirectTarget& target) {
  std::string ignored;
  if (!error) error = &ignored;
  int memfd = memfd_create("modelvet-ptrace-events", MFD_CLOEXEC);
  int status[2];
  if (memfd < 0 || pipe2(status, O_CLOEXEC) != 0) {
    *error = fmt::format("ptrace session: {}", strerror(errno));
    if (memfd >= 0) close(memfd);
    return nullptr;
  }
  pid_t helper = process::spawn_helper(
      {"modelvet", kHelperMode,
       {std::to_string(pid), std::to_string(target.tcp_port), std::to_string(target.udp_port), std::to_string(getpid())},
       {memfd, status[1]}},
      error);
  close(status[1]);
  if (helper < 0) {
    close(status[0]), close(memfd);
    return nullptr;
  }
  char answer[512] = {};
  ssize_t n = read(status[0], answer, sizeof(answer) - 1);
  close(status[0]);
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, helper, 0));
  if (n != 2 || memcmp(answer, "ok", 2) != 0 || pidfd < 0) {
    *error = n > 0 ? std::string(answer, n) : "ptrace helper died before seizing";
    kill(helper, SIGKILL);
    waitpid(helper, nullptr, 0);
    if (pidfd >= 0) close(pidfd);
    close(memfd);
    return nullptr;
  }
  return std::make_shared<PtraceSession>(helper, pidfd, memfd);
}

Events PtraceTracer::finish(PtraceSession& s, int timeout_ms) { return s.finish(timeout_ms); }

Stats PtraceTracer::stats(const PtraceSession& s) const { return s.stats(); }

}  // namespace modelvet::tracer
