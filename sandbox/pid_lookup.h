#pragma once
// Host pids of jail processes: the kernel's events name host pids, the harness knows only the
// pid its namespace gives it. /proc/<pid>/status's NSpid line holds both while it lives.
#include <sys/types.h>

#include <cstdint>

namespace modelvet::sandbox {

// The host pid of the live process that is `ns_pid` in the pid namespace with this inode, or 0.
// Every process of a jail descends from its pid 1 (init of a pid namespace cannot CLONE_PARENT,
// and an orphan is reparented to it), so only those are looked at: a jail's few dozen, not the
// host's, which a batch of many jails makes many.
pid_t host_pid_of(pid_t init_host_pid, uint64_t pidns_inode, pid_t ns_pid);

}  // namespace modelvet::sandbox
