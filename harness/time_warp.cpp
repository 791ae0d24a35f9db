// The virtual clock's state: one skip shared by the harness process and its forks (a forked
// daemon that sleeps moves its parent's clock too: one machine, one time), and a log of when the
// skip grew, so a timestamp the kernel wrote at real time R reads as R + the skip of that moment.
#include "harness/time_warp.h"

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <dlfcn.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>

namespace modelvet::harness {
namespace {

constexpr uint32_t kLogEntries = 16384;

struct SkipLog {
  int64_t real_realtime;  // when the skip grew (real CLOCK_REALTIME)
  int64_t skip;           // the skip from then on
};

// MAP_SHARED: survives fork as the same memory. Lock-free atomics work across processes.
struct SharedClock {
  std::atomic<int64_t> skip{0};
  std::atomic<int64_t> accelerated{0};
  std::atomic<int> log_lock{0};
  std::atomic<uint32_t> log_count{0};
  int64_t installed_realtime = 0;
  SkipLog log[kLogEntries];
};

SharedClock* g_clock = nullptr;
bool g_active = false;
int64_t g_cap_ns = 5000000;

// The kernel's clocks, never the interposed ones: libc's clock_gettime (the vDSO, no syscall
// for the tracer to see), found past this executable's own definition.
using ClockGettime = int (*)(clockid_t, timespec*);

int64_t kernel_clock_ns(clockid_t clock) {
  static std::atomic<ClockGettime> libc{nullptr};
  ClockGettime fn = libc.load(std::memory_order_relaxed);
  if (!fn) {
    fn = reinterpret_cast<ClockGettime>(dlsym(RTLD_NEXT, "clock_gettime"));
    libc.store(fn, std::memory_order_relaxed);
  }
  timespec ts{};
  if (!fn || fn(clock, &ts) != 0) syscall(SYS_clock_gettime, clock, &ts);
  return int64_t(ts.tv_sec) * 1000000000ll + ts.tv_nsec;
}

// Returns the real time the entry was logged at.
int64_t log_skip(int64_t skip) {
  int64_t logged = kernel_clock_ns(CLOCK_REALTIME);
  int expected = 0;  // a try-lock: advance_to may run in a signal handler; losing an entry is fine
  if (!g_clock->log_lock.compare_exchange_strong(expected, 1, std::memory_order_acquire)) return logged;
  uint32_t n = g_clock->log_count.load(std::memory_order_relaxed);
  if (n < kLogEntries) {
    g_clock->log[n] = {logged, std::max(skip, g_clock->skip.load())};
    g_clock->log_count.store(n + 1, std::memory_order_release);
  }
  g_clock->log_lock.store(0, std::memory_order_release);
  return logged;
}

// The kernel stamps files from its coarse clock, up to a tick (4 ms at HZ=250) behind the fine
// one: a file written right after the skip grew could carry a time before the log entry and read
// back without the skip. Waiting until the coarse clock has passed the entry puts every later
// stamp after it. Bounded: the coarse clock moves every tick.
void wait_for_coarse_clock(int64_t real_ns) {
  for (int i = 0; i < 64; ++i) {
    int64_t behind = real_ns - kernel_clock_ns(CLOCK_REALTIME_COARSE);
    if (behind < 0) return;
    warp::real_sleep_ns(std::min<int64_t>(behind + 100000, 20000000));
  }
}

void grow_skip(int64_t wanted) {
  int64_t current = g_clock->skip.load();
  while (wanted > current && !g_clock->skip.compare_exchange_weak(current, wanted)) {
  }
  if (wanted > current) wait_for_coarse_clock(log_skip(wanted));
}

}  // namespace

namespace warp {

bool active() { return g_active; }

bool offsets(clockid_t clock) {
  switch (clock) {
    case CLOCK_REALTIME:
    case CLOCK_MONOTONIC:
    case CLOCK_MONOTONIC_RAW:
    case CLOCK_REALTIME_COARSE:
    case CLOCK_MONOTONIC_COARSE:
    case CLOCK_BOOTTIME:
    case CLOCK_REALTIME_ALARM:
    case CLOCK_BOOTTIME_ALARM:
    case CLOCK_TAI:
      return true;
    default:
      return false;  // process / thread CPU time
  }
}

int64_t skip_ns() { return g_clock ? g_clock->skip.load(std::memory_order_relaxed) : 0; }

int64_t cap_ns() { return g_cap_ns; }
int64_t readiness_cap_ns() { return std::max<int64_t>(g_cap_ns, 200000000); }

int64_t now_ns(clockid_t clock) { return kernel_clock_ns(clock) + (offsets(clock) ? skip_ns() : 0); }

void advance_to(clockid_t clock, int64_t deadline) {
  if (!g_clock || !offsets(clock)) return;
  grow_skip(deadline - kernel_clock_ns(clock));
  g_clock->accelerated.fetch_add(1, std::memory_order_relaxed);
}

int64_t virtual_of_real_realtime(int64_t real_ns) {
  if (!g_clock || real_ns < g_clock->installed_realtime) return real_ns;  // before the run: no skip yet
  uint32_t n = g_clock->log_count.load(std::memory_order_acquire);
  const SkipLog* begin = g_clock->log;
  const SkipLog* end = begin + n;
  // The last growth at or before real_ns.
  const SkipLog* it = std::upper_bound(begin, end, real_ns,
                                       [](int64_t t, const SkipLog& e) { return t < e.real_realtime; });
  return it == begin ? real_ns : real_ns + (it - 1)->skip;
}

int64_t real_of_virtual_realtime(int64_t virtual_ns) {
  if (!g_clock || virtual_ns < g_clock->installed_realtime) return virtual_ns;
  return virtual_ns - skip_ns();
}

int real_sleep_ns(int64_t ns) {
  if (ns <= 0) return 0;
  timespec req{time_t(ns / 1000000000ll), long(ns % 1000000000ll)};
  return int(syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &req, &req)) == 0 ? 0 : errno;
}

}  // namespace warp

bool install_time_warp(double max_real_sleep_s) {
  if (g_active) return true;
  if (!warp::interposers_linked()) return false;
  void* page = mmap(nullptr, sizeof(SharedClock), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) return false;
  g_clock = new (page) SharedClock;
  g_clock->installed_realtime = kernel_clock_ns(CLOCK_REALTIME);
  g_cap_ns = std::max<int64_t>(100000, int64_t(max_real_sleep_s * 1e9));
  g_active = true;
  return true;
}

void warp_advance(double seconds) {
  if (g_clock && seconds > 0) grow_skip(warp::skip_ns() + int64_t(seconds * 1e9));
}

double warp_max_real_sleep() { return double(g_cap_ns) / 1e9; }

int64_t real_clock_ns(clockid_t clock) { return kernel_clock_ns(clock); }

double real_monotonic_s() { return double(kernel_clock_ns(CLOCK_MONOTONIC)) / 1e9; }

nlohmann::json time_warp_summary() {
  if (!g_clock) return {{"sleeps_accelerated", 0}, {"skipped_ms", 0}};
  return {{"sleeps_accelerated", g_clock->accelerated.load()}, {"skipped_ms", g_clock->skip.load() / 1000000}};
}

void real_sleep_ms(int ms) {
  if (ms <= 0) return;
  int64_t deadline = kernel_clock_ns(CLOCK_MONOTONIC) + int64_t(ms) * 1000000;
  Py_BEGIN_ALLOW_THREADS
  for (int64_t left = int64_t(ms) * 1000000; left > 0; left = deadline - kernel_clock_ns(CLOCK_MONOTONIC))
    warp::real_sleep_ns(left);
  Py_END_ALLOW_THREADS
}

}  // namespace modelvet::harness
