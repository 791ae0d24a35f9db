#pragma once
// Tells, for the ptrace backend, whether a syscall was rejected by the tracee's own seccomp
// filters. ptrace's syscall-entry stop comes before seccomp, so unlike BPF's sys_enter it sees
// denied calls too, and an -EPERM result alone cannot say who refused. The tracee's filters are
// read with PTRACE_SECCOMP_GET_FILTER and run here on the call's seccomp_data: a small classic
// BPF interpreter for the instructions seccomp accepts (no library offers one).
#include <linux/filter.h>
#include <sys/types.h>

#include <cstdint>
#include <vector>

#include "tracer/ptrace_records.h"

namespace modelvet::tracer {

using SeccompProgram = std::vector<sock_filter>;

// The filters attached to a ptrace-stopped thread, most recent first; empty when it has none
// (or when the kernel refuses to show them: no CAP_SYS_ADMIN, no CONFIG_CHECKPOINT_RESTORE).
std::vector<SeccompProgram> seccomp_filters_of(pid_t tid);

// The SECCOMP_RET_* value the filters return for the call: every filter runs and the most
// restrictive action wins, as in the kernel. SECCOMP_RET_ALLOW with no filters.
uint32_t seccomp_verdict(const std::vector<SeccompProgram>& filters, const TracedCall& call);

// True when the filters answer the call with SECCOMP_RET_ERRNO (the syscall never ran).
bool seccomp_denies(const std::vector<SeccompProgram>& filters, const TracedCall& call);

}  // namespace modelvet::tracer
