#pragma once
// The bridge of a jail that is not forked from a zygote: a fresh exec of this binary as
// `__bridge` (process/helper_mode.h says why not a fork of the threaded supervisor), which reads
// its plan, sent before the spawn, from descriptor 3 and runs jail_bridge.
#include <sys/types.h>

#include <string>

#include "sandbox/jail_child.h"

namespace modelvet::sandbox {

inline constexpr const char* kBridgeMode = "__bridge";

// The bridge's pid (a child of the caller), or -1 with *error set. The plan's descriptors are
// passed, not kept.
pid_t spawn_exec_bridge(const ChildPlan& plan, std::string* error);

}  // namespace modelvet::sandbox
