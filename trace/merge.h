#pragma once
// The merge: every source of evidence of one detonation joined into one time-ordered trace.
//
//   kernel  the tracer's events (ground truth), host CLOCK_MONOTONIC
//   python  the harness's JSON lines as received over its pipe (hints), the jail's clock
//   net     the fake network's sessions, the supervisor's clock
//
// Each source's clock is brought to the kernel's by its offset; kernel events from before the
// harness was released are the jail building itself and are left out. A fake-network session is
// attributed to the redirected connect of the same socket (its cookie, `sock`), never by order:
// two concurrent connections cannot take each other's destinations.
#include <cstdint>
#include <string>
#include <vector>

#include "trace/event.h"

namespace modelvet {

struct MergeInputs {
  Events kernel;
  std::vector<std::string> python_lines;
  Events net;
  uint64_t release_t_ns = 0;          // kernel CLOCK_MONOTONIC when the harness was released
  int64_t python_clock_offset_ns = 0; // added to python t_ns (a jail with its own time namespace)
  int64_t net_clock_offset_ns = 0;    // added to net t_ns
};

struct MergeResult {
  Events events;                       // sorted by t_ns (ties: source, kind, pid)
  uint64_t malformed_python_lines = 0; // not JSON objects, or of a kind the harness never writes
  uint64_t unattributed_sessions = 0;  // net sessions without a socket identity to attribute
  std::vector<std::string> errors;     // events of ours that the trace model does not know
};

MergeResult merge_sources(MergeInputs inputs);

// The fake-network side of attribution, exposed for tests: writes the redirected connect's
// intended destination onto each net session that carries the same socket cookie.
void attribute_sessions(Events& events, uint64_t* unattributed);

}  // namespace modelvet
