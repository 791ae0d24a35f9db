#pragma once
// Whether anything in the jail could still run code of the file's: the grace period exists for
// threads, timers, signals and processes the sample left behind, and where there are none it
// has nothing to wait for.
#include <sys/types.h>

#include <cstdint>

namespace modelvet::harness {

// This process's start time (clock ticks since boot, /proc/self/stat field 22); 0 if unknown.
uint64_t own_start_ticks();

// What could still run later, or nullptr when nothing could: another thread of this process, a
// process of the jail started after the harness and alive (a fork, a setsid daemon), an armed
// ITIMER_REAL or POSIX timer, a pending signal. Anything unreadable counts as left.
const char* left_to_run(uint64_t harness_start_ticks);

}  // namespace modelvet::harness
