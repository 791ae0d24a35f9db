#pragma once
// The ptrace backend's stand-in for the cgroup sock_addr hooks (tracer/sock_addr.bpf.c), so a
// host without BPF (and every rootless jail) still sends the sample's traffic to the fake
// network: at the entry stop of connect (TCP, UDP) or of sendto/sendmsg with a destination
// (UDP), the IPv4/IPv6 destination is recorded and, when the jail has fake services, replaced
// by loopback and their port, with the hooks' rules. The replacement is written below the
// caller's stack red zone and the syscall's pointer argument moved to it: the program's own
// buffers never change, and the call's exit record still shows where it asked to go.
#include <sys/types.h>

#include <optional>

#include "tracer/ptrace_records.h"
#include "tracer/tracer.h"

namespace modelvet::tracer {

// At a syscall-entry stop of thread tid (of process tgid). The record the hook would have
// written (header left to the caller), or nullopt when the call has no destination to steer.
std::optional<mv_redirect_rec> steer_destination(pid_t tid, pid_t tgid, const TracedCall& call,
                                                 const RedirectTarget& target);

}  // namespace modelvet::tracer
