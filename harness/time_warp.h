#pragma once
// Time acceleration for the sample, as one virtual clock for the whole harness process (and the
// processes it forks). Virtual time = real time + a skip that only grows. A wait longer than the
// cap (a sleep, a select/poll/epoll timeout, a timed lock or condition wait, an alarm) lasts the
// cap for real and then moves the skip so the wait's deadline has come. Every clock the process
// can read moves by the same skip: clock_gettime (realtime, monotonic, boottime, coarse and raw),
// gettimeofday, time, /proc/uptime and sysinfo, and the timestamps of files changed during the
// run (each translated by the skip in force when it was written). Implemented by interposing the
// libc functions (time_warp_libc.cpp), so native code is warped like Python; CPU-time clocks are
// left alone (a sleep uses no CPU). Before install_time_warp every interposer passes through.
#include <time.h>

#include <cstdint>

#include <nlohmann/json.hpp>

namespace modelvet::harness {

// Turns the virtual clock on for this process (and its future forks). Waits longer than
// max_real_sleep_s last max_real_sleep_s for real. False when the shared clock page cannot be
// mapped (the warp then stays off).
bool install_time_warp(double max_real_sleep_s);

// Moves the virtual clock forward.
void warp_advance(double seconds);

double warp_max_real_sleep();

// Real, unwarped clocks for the harness's own bookkeeping (event timestamps, the grace period).
int64_t real_clock_ns(clockid_t clock);
double real_monotonic_s();

// {"sleeps_accelerated": n, "skipped_ms": ms}.
nlohmann::json time_warp_summary();

// Sleeps for real with the GIL released (when held), so the sample's threads run meanwhile.
void real_sleep_ms(int ms);

namespace warp {  // for the interposers (time_warp_libc.cpp)

bool active();
bool offsets(clockid_t clock);  // true for the wall and elapsed clocks, false for CPU time
int64_t skip_ns();
int64_t cap_ns();
// The real time a readiness wait on file descriptors (poll, select, epoll with fds) lasts before
// its deadline is brought forward: longer than a sleep's cap, since what it waits for (a child's
// output, the fake network's answer) is on its way and on a loaded machine takes more than a few
// milliseconds; cut at the sleep cap, subprocess.run(timeout=10) and socket timeouts expired
// before a 20 ms answer came.
int64_t readiness_cap_ns();
int64_t now_ns(clockid_t clock);  // virtual
// The skip grows so that `deadline` (virtual, on `clock`) is now; counted as one accelerated wait.
void advance_to(clockid_t clock, int64_t deadline);
// A realtime timestamp the kernel wrote (a file's mtime) as the sample's clock read then.
int64_t virtual_of_real_realtime(int64_t real_ns);
// A virtual realtime the sample passes in (utime) as the kernel's clock.
int64_t real_of_virtual_realtime(int64_t virtual_ns);
// Sleeps for real (relative, CLOCK_MONOTONIC); 0 or an errno (EINTR).
int real_sleep_ns(int64_t ns);
// Defined beside the interposers: referencing it links them into the executable.
bool interposers_linked();

}  // namespace warp

}  // namespace modelvet::harness
