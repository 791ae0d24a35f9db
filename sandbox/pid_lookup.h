#pragma once
// Host pids of jail processes: the kernel's events name host pids, the harness knows only the
// pid its namespace gives it. /proc/<pid>/status's NSpid line holds both while it lives.
#include <sys/types.h>

#include <cstdint>

namespace modelvet::sandbox {

// The host pid of the live process that is `ns_pid` in the pid namespace with this inode, or 0.
pid_t host_pid_of(uint64_t pidns_inode, pid_t ns_pid);

}  // namespace modelvet::sandbox
