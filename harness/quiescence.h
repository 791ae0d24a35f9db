#pragma once
// Whether anything in the jail could still run code of the file's: the grace period exists for
// threads, timers, signals and processes the sample left behind, and where there are none it
// has nothing to wait for.
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <set>
#include <utility>

namespace modelvet::harness {

// The jail's live processes (other than this one) by (pid, start time in clock ticks), taken
// before the file's code can run. A start time alone cannot tell them from the load's: the decoy
// session's processes often start within the harness's own clock tick (10 ms).
using ProcessSet = std::set<std::pair<pid_t, uint64_t>>;
std::optional<ProcessSet> processes_before_load();

// What could still run later, or nullptr when nothing could: another thread of this process, a
// process of the jail alive and not in `before_load` (a fork, a setsid daemon), an armed
// ITIMER_REAL or POSIX timer, a pending signal. Anything unreadable counts as left.
const char* left_to_run(const std::optional<ProcessSet>& before_load);

}  // namespace modelvet::harness
