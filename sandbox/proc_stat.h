#pragma once
// The fields of /proc/<pid>/stat that modelvet reads: a process's state and its start time.
#include <optional>
#include <string>

namespace modelvet::sandbox {

struct ProcStat {
  char state = '?';                   // field 3: R, S, D, Z, X, ...
  unsigned long long start_ticks = 0; // field 22: clock ticks after boot
};

// `path` is a /proc/<pid>/stat (or /proc/self/stat). Read with plain syscalls (no libc call the
// harness's time warp interposes); nullopt when the process is gone or the text is malformed.
std::optional<ProcStat> read_proc_stat(const std::string& path);

}  // namespace modelvet::sandbox
