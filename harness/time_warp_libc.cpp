// The virtual clock at the libc boundary: this executable defines the libc functions that read
// time or wait, so libpython, extension modules and native libraries (exported through
// time_warp.dynlist) call these first. Each passes straight through to libc until the harness
// turns the warp on (time_warp.cpp), so the rest of modelvet never sees it.
//
// Reads add the skip; waits longer than the cap last the cap for real and then move the clock to
// their deadline; absolute deadlines the caller computed from the virtual clock are turned back
// into real ones. ITIMER_REAL (alarm, setitimer) is kept in virtual time by a helper thread that
// raises SIGALRM when the virtual deadline comes.
#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>

#include "harness/time_warp.h"

namespace w = modelvet::harness::warp;

namespace {

constexpr int64_t kNs = 1000000000ll;

template <typename Fn>
Fn next_symbol(const char* name) {
  return reinterpret_cast<Fn>(dlsym(RTLD_NEXT, name));
}

// The libc definition of `name`, found once.
#define REAL(name)                                                                       \
  ([]() {                                                                                \
    static decltype(&::name) fn = nullptr;                                               \
    if (!fn) fn = next_symbol<decltype(&::name)>(#name);                                 \
    return fn;                                                                           \
  }())

int64_t ns_of(const timespec& ts) { return int64_t(ts.tv_sec) * kNs + ts.tv_nsec; }
int64_t ns_of(const timeval& tv) { return int64_t(tv.tv_sec) * kNs + int64_t(tv.tv_usec) * 1000; }
timespec timespec_of(int64_t ns) {
  ns = std::max<int64_t>(ns, 0);
  return {time_t(ns / kNs), long(ns % kNs)};
}
timeval timeval_of(int64_t ns) {
  ns = std::max<int64_t>(ns, 0);
  return {time_t(ns / kNs), suseconds_t((ns % kNs) / 1000)};
}

void add_skip(timespec* ts, int64_t skip) {
  if (ts) *ts = timespec_of(ns_of(*ts) + skip);
}

// A wait with a timeout (relative, ns) longer than the cap: wait the cap for real through `wait`
// (which gets the real timeout in ns and returns true when it timed out), then, if it timed
// out, the clock jumps to the deadline.
// A readiness wait with descriptors waits longer for real (readiness_cap_ns) than a sleep.
template <typename Wait>
bool accelerated_wait(int64_t timeout_ns, Wait wait, int64_t real_cap_ns = w::cap_ns()) {
  const int64_t deadline = w::now_ns(CLOCK_MONOTONIC) + timeout_ns;
  bool timed_out = wait(real_cap_ns);
  if (timed_out) w::advance_to(CLOCK_MONOTONIC, deadline);
  return timed_out;
}

bool long_wait(int64_t timeout_ns, int64_t real_cap_ns = w::cap_ns()) {
  return w::active() && timeout_ns > real_cap_ns;
}

// The real cap of a readiness wait: a select or poll without descriptors is a sleep.
int64_t readiness_cap(bool has_fds) { return has_fds ? w::readiness_cap_ns() : w::cap_ns(); }

// A realtime stamp the kernel wrote, as the sample's clock read then.
void virtual_stamp(timespec* ts) { *ts = timespec_of(w::virtual_of_real_realtime(ns_of(*ts))); }

template <typename Stat>
int stamped(int rc, Stat* st) {
  if (rc == 0 && st && w::active()) {
    virtual_stamp(&st->st_atim);
    virtual_stamp(&st->st_mtim);
    virtual_stamp(&st->st_ctim);
  }
  return rc;
}

// /proc/uptime as the virtual clock has it: a pipe holding the warped line (uptime and idle
// time move with the skip; idle by the skip on every CPU, as an idle machine's would).
bool is_uptime(const char* path) { return path && strcmp(path, "/proc/uptime") == 0; }

int open_uptime(int flags) {
  int fd = REAL(open)("/proc/uptime", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fd;
  char line[128] = {};
  ssize_t n = read(fd, line, sizeof(line) - 1);
  close(fd);
  double up = 0, idle = 0;
  if (n <= 0 || sscanf(line, "%lf %lf", &up, &idle) != 2) {
    errno = EIO;
    return -1;
  }
  double skip = double(w::skip_ns()) / 1e9;
  long cpus = std::max(1l, sysconf(_SC_NPROCESSORS_ONLN));
  int len = snprintf(line, sizeof(line), "%.2f %.2f\n", up + skip, idle + skip * double(cpus));
  int pipefd[2];
  if (pipe2(pipefd, (flags & O_CLOEXEC) ? O_CLOEXEC : 0) != 0) return -1;
  (void)!write(pipefd[1], line, size_t(len));
  close(pipefd[1]);
  return pipefd[0];
}

mode_t mode_arg(int flags, va_list args) {
  return (flags & O_CREAT) || (flags & __O_TMPFILE) == __O_TMPFILE ? mode_t(va_arg(args, int)) : 0;
}

// A condition's clock is its attribute's; a deadline tens of years from the epoch is realtime.
clockid_t clock_of_deadline(const timespec* abstime) {
  return abstime->tv_sec > 10 * 365 * 86400l ? CLOCK_REALTIME : CLOCK_MONOTONIC;
}

// --- ITIMER_REAL in virtual time ---------------------------------------------------------

struct VirtualItimer {
  pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
  pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
  int64_t deadline = 0;  // virtual CLOCK_MONOTONIC ns; 0 = disarmed
  int64_t interval = 0;
  pid_t helper_of = 0;   // the process whose helper thread runs (threads do not survive fork)
};

VirtualItimer g_itimer;

void reset_itimer_in_child() { new (&g_itimer) VirtualItimer; }  // the kernel clears a child's timers too

void* itimer_helper(void*) {
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);  // SIGALRM must reach the sample's threads, not this one
  pthread_mutex_lock(&g_itimer.lock);
  for (;;) {
    while (g_itimer.deadline == 0) pthread_cond_wait(&g_itimer.changed, &g_itimer.lock);
    int64_t deadline = g_itimer.deadline;
    int64_t left = deadline - w::now_ns(CLOCK_MONOTONIC);
    pthread_mutex_unlock(&g_itimer.lock);
    w::real_sleep_ns(std::min(left, w::cap_ns()));
    pthread_mutex_lock(&g_itimer.lock);
    if (g_itimer.deadline != deadline) continue;  // re-armed or cancelled meanwhile
    if (left > w::cap_ns()) w::advance_to(CLOCK_MONOTONIC, deadline);
    g_itimer.deadline = g_itimer.interval ? deadline + g_itimer.interval : 0;
    kill(getpid(), SIGALRM);
  }
  return nullptr;
}

// Arms the virtual ITIMER_REAL (value 0 disarms); `old` gets what was left. Needs the lock.
void arm_itimer(int64_t value, int64_t interval, itimerval* old) {
  int64_t now = w::now_ns(CLOCK_MONOTONIC);
  if (old) {
    old->it_value = timeval_of(g_itimer.deadline ? std::max<int64_t>(g_itimer.deadline - now, 1000) : 0);
    old->it_interval = timeval_of(g_itimer.interval);
  }
  g_itimer.deadline = value > 0 ? now + value : 0;
  g_itimer.interval = value > 0 ? interval : 0;
  if (g_itimer.helper_of != getpid()) {
    static bool atfork_registered = false;
    if (!atfork_registered) atfork_registered = pthread_atfork(nullptr, nullptr, reset_itimer_in_child) == 0;
    pthread_t thread;
    if (pthread_create(&thread, nullptr, itimer_helper, nullptr) == 0) {
      pthread_detach(thread);
      g_itimer.helper_of = getpid();
    }
  }
  pthread_cond_signal(&g_itimer.changed);
}

}  // namespace

namespace modelvet::harness::warp {
bool interposers_linked() { return true; }
}  // namespace modelvet::harness::warp

extern "C" {

// --- clocks --------------------------------------------------------------------------------

int clock_gettime(clockid_t clock, timespec* ts) {
  int rc = REAL(clock_gettime)(clock, ts);
  if (rc == 0 && w::active() && w::offsets(clock)) add_skip(ts, w::skip_ns());
  return rc;
}

int gettimeofday(struct timeval* __restrict tv, void* __restrict tz) {
  int rc = REAL(gettimeofday)(tv, tz);
  if (rc == 0 && w::active()) *tv = timeval_of(ns_of(*tv) + w::skip_ns());
  return rc;
}

time_t time(time_t* out) {
  time_t now = REAL(time)(nullptr);
  if (w::active()) now = time_t(w::now_ns(CLOCK_REALTIME) / kNs);
  if (out) *out = now;
  return now;
}

int sysinfo(struct sysinfo* info) {
  int rc = REAL(sysinfo)(info);
  if (rc == 0 && info && w::active()) info->uptime += long(w::skip_ns() / kNs);
  return rc;
}

// --- sleeps --------------------------------------------------------------------------------

int clock_nanosleep(clockid_t clock, int flags, const timespec* req, timespec* rem) {
  if (!w::active() || !w::offsets(clock) || !req) return REAL(clock_nanosleep)(clock, flags, req, rem);
  const int64_t deadline = (flags & TIMER_ABSTIME) ? ns_of(*req) : w::now_ns(clock) + ns_of(*req);
  const int64_t left = deadline - w::now_ns(clock);
  if (left <= 0) return 0;
  int err = w::real_sleep_ns(std::min(left, w::cap_ns()));
  if (err == 0 && left > w::cap_ns()) w::advance_to(clock, deadline);
  if (err == EINTR && rem && !(flags & TIMER_ABSTIME)) *rem = timespec_of(deadline - w::now_ns(clock));
  return err;
}

int nanosleep(const timespec* req, timespec* rem) {
  if (!w::active() || !req) return REAL(nanosleep)(req, rem);
  int err = clock_nanosleep(CLOCK_MONOTONIC, 0, req, rem);
  if (err == 0) return 0;
  errno = err;
  return -1;
}

int usleep(useconds_t us) {
  timespec req = timespec_of(int64_t(us) * 1000);
  return nanosleep(&req, nullptr);
}

unsigned int sleep(unsigned int seconds) {
  timespec req = timespec_of(int64_t(seconds) * kNs), rem{};
  return nanosleep(&req, &rem) == 0 ? 0 : unsigned(rem.tv_sec);
}

// --- readiness waits -----------------------------------------------------------------------

int select(int n, fd_set* r, fd_set* wr, fd_set* e, struct timeval* timeout) {
  const int64_t cap = readiness_cap(n > 0 && (r || wr || e));
  if (!timeout || !long_wait(ns_of(*timeout), cap)) return REAL(select)(n, r, wr, e, timeout);
  int rc = 0;
  const int64_t deadline = w::now_ns(CLOCK_MONOTONIC) + ns_of(*timeout);
  accelerated_wait(ns_of(*timeout), [&](int64_t real) {
    timeval t = timeval_of(real);
    rc = REAL(select)(n, r, wr, e, &t);
    return rc == 0;
  }, cap);
  *timeout = timeval_of(deadline - w::now_ns(CLOCK_MONOTONIC));
  return rc;
}

int pselect(int n, fd_set* r, fd_set* wr, fd_set* e, const timespec* timeout, const sigset_t* mask) {
  const int64_t cap = readiness_cap(n > 0 && (r || wr || e));
  if (!timeout || !long_wait(ns_of(*timeout), cap)) return REAL(pselect)(n, r, wr, e, timeout, mask);
  int rc = 0;
  accelerated_wait(ns_of(*timeout), [&](int64_t real) {
    timespec t = timespec_of(real);
    rc = REAL(pselect)(n, r, wr, e, &t, mask);
    return rc == 0;
  }, cap);
  return rc;
}

int poll(struct pollfd* fds, nfds_t n, int timeout_ms) {
  const int64_t cap = readiness_cap(n > 0);
  if (timeout_ms < 0 || !long_wait(int64_t(timeout_ms) * 1000000, cap)) return REAL(poll)(fds, n, timeout_ms);
  int rc = 0;
  accelerated_wait(int64_t(timeout_ms) * 1000000, [&](int64_t real) {
    rc = REAL(poll)(fds, n, int(std::max<int64_t>(1, real / 1000000)));
    return rc == 0;
  }, cap);
  return rc;
}

int ppoll(struct pollfd* fds, nfds_t n, const timespec* timeout, const sigset_t* mask) {
  const int64_t cap = readiness_cap(n > 0);
  if (!timeout || !long_wait(ns_of(*timeout), cap)) return REAL(ppoll)(fds, n, timeout, mask);
  int rc = 0;
  accelerated_wait(ns_of(*timeout), [&](int64_t real) {
    timespec t = timespec_of(real);
    rc = REAL(ppoll)(fds, n, &t, mask);
    return rc == 0;
  }, cap);
  return rc;
}

int epoll_wait(int epfd, struct epoll_event* events, int max, int timeout_ms) {
  const int64_t cap = readiness_cap(true);
  if (timeout_ms < 0 || !long_wait(int64_t(timeout_ms) * 1000000, cap))
    return REAL(epoll_wait)(epfd, events, max, timeout_ms);
  int rc = 0;
  accelerated_wait(int64_t(timeout_ms) * 1000000, [&](int64_t real) {
    rc = REAL(epoll_wait)(epfd, events, max, int(std::max<int64_t>(1, real / 1000000)));
    return rc == 0;
  }, cap);
  return rc;
}

int epoll_pwait(int epfd, struct epoll_event* events, int max, int timeout_ms, const sigset_t* mask) {
  const int64_t cap = readiness_cap(true);
  if (timeout_ms < 0 || !long_wait(int64_t(timeout_ms) * 1000000, cap))
    return REAL(epoll_pwait)(epfd, events, max, timeout_ms, mask);
  int rc = 0;
  accelerated_wait(int64_t(timeout_ms) * 1000000, [&](int64_t real) {
    rc = REAL(epoll_pwait)(epfd, events, max, int(std::max<int64_t>(1, real / 1000000)), mask);
    return rc == 0;
  }, cap);
  return rc;
}

// --- timed locks and conditions (absolute deadlines on the virtual clock) -------------------

int sem_clockwait(sem_t* sem, clockid_t clock, const timespec* abstime) {
  if (!w::active() || !w::offsets(clock)) return REAL(sem_clockwait)(sem, clock, abstime);
  const int64_t deadline = ns_of(*abstime);
  const int64_t left = deadline - w::now_ns(clock);
  timespec real = timespec_of(ns_of(*abstime) - w::skip_ns());
  if (left <= w::cap_ns()) return REAL(sem_clockwait)(sem, clock, &real);
  real = timespec_of(w::now_ns(clock) - w::skip_ns() + w::cap_ns());
  int rc = REAL(sem_clockwait)(sem, clock, &real);
  if (rc != 0 && errno == ETIMEDOUT) w::advance_to(clock, deadline);
  return rc;
}

int sem_timedwait(sem_t* __restrict sem, const timespec* __restrict abstime) {
  return sem_clockwait(sem, CLOCK_REALTIME, abstime);
}

int pthread_cond_clockwait(pthread_cond_t* cond, pthread_mutex_t* mutex, clockid_t clock, const timespec* abstime) {
  if (!w::active() || !w::offsets(clock)) return REAL(pthread_cond_clockwait)(cond, mutex, clock, abstime);
  const int64_t deadline = ns_of(*abstime);
  const int64_t left = deadline - w::now_ns(clock);
  timespec real = timespec_of(deadline - w::skip_ns());
  if (left <= w::cap_ns()) return REAL(pthread_cond_clockwait)(cond, mutex, clock, &real);
  real = timespec_of(w::now_ns(clock) - w::skip_ns() + w::cap_ns());
  int rc = REAL(pthread_cond_clockwait)(cond, mutex, clock, &real);
  if (rc == ETIMEDOUT) w::advance_to(clock, deadline);
  return rc;
}

int pthread_cond_timedwait(pthread_cond_t* __restrict cond, pthread_mutex_t* __restrict mutex,
                           const timespec* __restrict abstime) {
  if (!w::active()) return REAL(pthread_cond_timedwait)(cond, mutex, abstime);
  const clockid_t clock = clock_of_deadline(abstime);
  const int64_t deadline = ns_of(*abstime);
  const int64_t left = deadline - w::now_ns(clock);
  timespec real = timespec_of(deadline - w::skip_ns());
  if (left <= w::cap_ns()) return REAL(pthread_cond_timedwait)(cond, mutex, &real);
  real = timespec_of(w::now_ns(clock) - w::skip_ns() + w::cap_ns());
  int rc = REAL(pthread_cond_timedwait)(cond, mutex, &real);
  if (rc == ETIMEDOUT) w::advance_to(clock, deadline);
  return rc;
}

// --- alarm and ITIMER_REAL -----------------------------------------------------------------

unsigned int alarm(unsigned int seconds) {
  if (!w::active()) return REAL(alarm)(seconds);
  itimerval old{};
  pthread_mutex_lock(&g_itimer.lock);
  arm_itimer(int64_t(seconds) * kNs, 0, &old);
  pthread_mutex_unlock(&g_itimer.lock);
  int64_t left = ns_of(old.it_value);
  return unsigned((left + kNs - 1) / kNs);
}

int setitimer(__itimer_which_t which, const struct itimerval* value, struct itimerval* old) {
  if (!w::active() || which != ITIMER_REAL || !value) return REAL(setitimer)(which, value, old);
  pthread_mutex_lock(&g_itimer.lock);
  arm_itimer(ns_of(value->it_value), ns_of(value->it_interval), old);
  pthread_mutex_unlock(&g_itimer.lock);
  return 0;
}

int getitimer(__itimer_which_t which, struct itimerval* value) {
  if (!w::active() || which != ITIMER_REAL || !value) return REAL(getitimer)(which, value);
  pthread_mutex_lock(&g_itimer.lock);
  int64_t now = w::now_ns(CLOCK_MONOTONIC);
  value->it_value = timeval_of(g_itimer.deadline ? std::max<int64_t>(g_itimer.deadline - now, 1000) : 0);
  value->it_interval = timeval_of(g_itimer.interval);
  pthread_mutex_unlock(&g_itimer.lock);
  return 0;
}

// --- files: /proc/uptime and timestamps ----------------------------------------------------

int open(const char* path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  mode_t mode = mode_arg(flags, args);
  va_end(args);
  if (w::active() && is_uptime(path)) return open_uptime(flags);
  return REAL(open)(path, flags, mode);
}

int open64(const char* path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  mode_t mode = mode_arg(flags, args);
  va_end(args);
  if (w::active() && is_uptime(path)) return open_uptime(flags);
  return REAL(open64)(path, flags, mode);
}

int openat(int dirfd, const char* path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  mode_t mode = mode_arg(flags, args);
  va_end(args);
  if (w::active() && is_uptime(path)) return open_uptime(flags);
  return REAL(openat)(dirfd, path, flags, mode);
}

int openat64(int dirfd, const char* path, int flags, ...) {
  va_list args;
  va_start(args, flags);
  mode_t mode = mode_arg(flags, args);
  va_end(args);
  if (w::active() && is_uptime(path)) return open_uptime(flags);
  return REAL(openat64)(dirfd, path, flags, mode);
}

FILE* fopen(const char* __restrict path, const char* __restrict mode) {
  if (w::active() && is_uptime(path) && mode && mode[0] == 'r' && !strchr(mode, '+')) {
    int fd = open_uptime(strchr(mode, 'e') ? O_CLOEXEC : 0);
    return fd < 0 ? nullptr : fdopen(fd, "r");
  }
  return REAL(fopen)(path, mode);
}

FILE* fopen64(const char* __restrict path, const char* __restrict mode) {
  if (w::active() && is_uptime(path)) return fopen(path, mode);
  return REAL(fopen64)(path, mode);
}

int stat(const char* __restrict path, struct stat* __restrict st) { return stamped(REAL(stat)(path, st), st); }
int stat64(const char* __restrict path, struct stat64* __restrict st) { return stamped(REAL(stat64)(path, st), st); }
int lstat(const char* __restrict path, struct stat* __restrict st) { return stamped(REAL(lstat)(path, st), st); }
int lstat64(const char* __restrict path, struct stat64* __restrict st) { return stamped(REAL(lstat64)(path, st), st); }
int fstat(int fd, struct stat* st) { return stamped(REAL(fstat)(fd, st), st); }
int fstat64(int fd, struct stat64* st) { return stamped(REAL(fstat64)(fd, st), st); }
int fstatat(int dirfd, const char* __restrict path, struct stat* __restrict st, int flags) {
  return stamped(REAL(fstatat)(dirfd, path, st, flags), st);
}
int fstatat64(int dirfd, const char* __restrict path, struct stat64* __restrict st, int flags) {
  return stamped(REAL(fstatat64)(dirfd, path, st, flags), st);
}

int statx(int dirfd, const char* __restrict path, int flags, unsigned int mask, struct statx* __restrict st) {
  int rc = REAL(statx)(dirfd, path, flags, mask, st);
  if (rc == 0 && w::active())
    for (statx_timestamp* t : {&st->stx_atime, &st->stx_btime, &st->stx_ctime, &st->stx_mtime}) {
      int64_t v = w::virtual_of_real_realtime(t->tv_sec * kNs + t->tv_nsec);
      t->tv_sec = v / kNs;
      t->tv_nsec = uint32_t(v % kNs);
    }
  return rc;
}

// A sample that stamps a file with the time it reads must read that time back.
int utimensat(int dirfd, const char* path, const timespec times[2], int flags) {
  if (!w::active() || !times) return REAL(utimensat)(dirfd, path, times, flags);
  timespec real[2] = {times[0], times[1]};
  for (timespec& t : real)
    if (t.tv_nsec != UTIME_NOW && t.tv_nsec != UTIME_OMIT) t = timespec_of(w::real_of_virtual_realtime(ns_of(t)));
  return REAL(utimensat)(dirfd, path, real, flags);
}

int futimens(int fd, const timespec times[2]) {
  if (!w::active() || !times) return REAL(futimens)(fd, times);
  timespec real[2] = {times[0], times[1]};
  for (timespec& t : real)
    if (t.tv_nsec != UTIME_NOW && t.tv_nsec != UTIME_OMIT) t = timespec_of(w::real_of_virtual_realtime(ns_of(t)));
  return REAL(futimens)(fd, real);
}

}  // extern "C"
