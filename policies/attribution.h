#pragma once
// Cause attribution (issue #15): every event is the file's, an installed library's, or the
// harness's. The harness marks *library windows* (python `cause` events, begin/end pairs with a
// sequence number, counted in the `load` event's `cause_windows`): the main thread running a
// library's own machinery — its import-time start-up, a class defined in it rebuilding itself
// from state. Events between a well-formed pair, on the harness's main thread, and every event
// of a process forked there, are the library's; a `file` window nested in a library one (a
// callable the file chose, invoked from library code) is the file's again. Everything before
// the `load` phase marker is the harness's. Anything else — an unmarked event, another thread,
// a window that is never closed, markers that do not add up — is the file's (fail closed).
#include <string>
#include <vector>

#include "trace/event.h"

namespace modelvet::policy {

inline constexpr const char* kCauseFile = "file";
inline constexpr const char* kCauseLibrary = "library";
inline constexpr const char* kCauseHarness = "harness";

struct AttributionContext {
  int harness_pid = 0;  // host tgid of the harness (kernel events); 0 = unknown → no library attribution
};

struct Cause {
  std::string cause = kCauseFile;
  std::string reason;  // for library: the window's reason ("import pandas.core.frame (…)")
};

struct AttributionResult {
  std::vector<Cause> causes;   // one per input event, same order
  bool markers_valid = true;   // false: windows were malformed or did not add up, none honoured
  std::string problem;         // why not
  size_t windows_honoured = 0;
};

// `order`: the events in time order (t_ns ascending); returns one Cause per element.
AttributionResult attribute(const std::vector<const Event*>& order, const AttributionContext& ctx);

// For the trace merge: sorts by t_ns (stable), attributes, and writes "cause" (and
// "cause_reason" for library events) into each event's data.
AttributionResult attribute_causes(Events& events, const AttributionContext& ctx);

}  // namespace modelvet::policy
