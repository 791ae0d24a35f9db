#pragma once
// The fallback witness for hosts where BPF is not permitted: ptrace.
//
// Why ptrace and not seccomp user notification: a notification arrives before the syscall
// runs and its supervisor never learns the result (an open's fd, a connect's -ECONNREFUSED);
// it needs a filter installed inside the jail; and the jail's own SECCOMP_RET_ERRNO rules take
// precedence over USER_NOTIF, so denied calls would never be seen. ptrace sees the entry and
// the exit of every syscall, every fork/clone/exec/exit, reads the caller's memory, and is
// attached from outside, so the jail's filter (which denies ptrace to the jail) does not matter.
//
// It produces the eBPF backend's events, kinds and fields (tracer/README.md), through the
// same record decoder, net_redirect included: connections and datagrams are steered to the
// fake network at their entry stop (tracer/ptrace_steer.h). Not available here: cgroup scoping
// (it follows process trees instead). Cost: two stops per syscall (see
// tests/bench_tracer.cpp): a fallback, not a replacement.
#include <sys/types.h>

#include <memory>
#include <string>

#include "tracer/tracer.h"
#include "trace/event.h"

namespace modelvet::tracer {

class PtraceSession;  // one followed process tree: its helper process and recording

class PtraceTracer {
 public:
  std::string backend() const { return "ptrace"; }

  // Follows `pid` and every process and thread it creates from now on. Call it while pid is
  // still waiting to do its work (the jail's init before "go"): nothing done before the call
  // is recorded, and children pid already has are not followed. The tracing runs in a helper
  // process, a child of the calling thread (it dies with that thread, and the tracees with it:
  // PTRACE_O_EXITKILL). nullptr and *error when ptrace is refused.
  // Connections and datagrams go to `target`'s ports (zero: recorded, not rewritten).
  std::shared_ptr<PtraceSession> watch_process(pid_t pid, std::string* error, const RedirectTarget& target = {});

  // Once the traced processes are gone: their events sorted by t_ns. Processes still traced
  // after timeout_ms are killed with the helper (fail closed; counted in stats as "killed").
  // A second call returns nothing new.
  Events finish(PtraceSession& s, int timeout_ms = 5000);
  // Stats.per_buffer has the eBPF backend's shape ({"high": {...}, "bulk": {...}}); counts are
  // known once the session is finished.
  Stats stats(const PtraceSession& s) const;
};

}  // namespace modelvet::tracer
