#pragma once
// The per-process context the kernel records leave to user space, applied once a session's
// events are complete and in time order: writes and executable mappings get the "path" their
// fd was opened with (fd tables follow open/memfd_create/dup/close and are copied on fork).
// Internal records ('_' kinds) are consumed here and never returned.
#include "trace/event.h"

namespace modelvet::tracer {

// Sorts by t_ns (stable) and links; returns only public events.
Events link_events(Events raw);

}  // namespace modelvet::tracer
