#pragma once
// The ptrace backend's tracer loop. Runs in a helper process of its own (it waits for any
// tracee with waitpid(-1), which in the caller's process would also reap the caller's own
// children): seizes one process, follows every process and thread it creates, and turns
// syscall, fork, exec and exit stops into the eBPF backend's records, decoded into events.
#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>

#include "tracer/tracer.h"
#include "trace/event.h"

namespace modelvet::tracer {

class PtraceLoop {
 public:
  using Sink = std::function<void(Event event, int ring)>;  // ring: MV_RING_HIGH / MV_RING_BULK

  PtraceLoop();
  ~PtraceLoop();

  // PTRACE_SEIZE with TRACESYSGOOD, TRACEFORK/VFORK/CLONE, TRACEEXEC and EXITKILL (if this
  // process dies, the tracees die with it: nothing runs unobserved). Children `root` already
  // has are not followed.
  bool seize(pid_t root, std::string* error);
  // Where connections and datagrams go instead of their destination (tracer/ptrace_steer.h);
  // zero ports: recorded, not rewritten.
  void steer_to(const RedirectTarget& target);
  // Until no tracee is left: every record goes to sink. Returns the number of ptrace stops.
  uint64_t run(const Sink& sink);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace modelvet::tracer
