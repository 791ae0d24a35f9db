#pragma once
// A ChildPlan as one message (text and descriptors), for a bridge that is not a fork of the
// process that computed the plan: one forked by a zygote, or an exec'd one (sandbox/exec_bridge.h).
#include <string>
#include <vector>

#include "sandbox/jail_child.h"

namespace modelvet::sandbox {

inline constexpr size_t kMaxPlanBytes = 1u << 20;

// The plan's descriptors, in the order they travel; the exit pipe only where the plan has one.
enum PlanFd { kEventW, kOutputW, kStatusW, kGoR, kHandoffW, kExeFd, kExitW, kPlanFds };

struct EncodedPlan {
  std::string text;      // JSON; names and argv (any byte) as hex
  std::vector<int> fds;  // PlanFd order, borrowed from the plan
};

EncodedPlan encode_plan(const ChildPlan& plan);

// The receiver's copy: it lives until the bridge _exits (never destroyed: the v1 handle would
// remove the cgroup dirs). zygote and in_process_harness are the receiver's to set. Throws on a
// malformed message (text or descriptor count).
ChildPlan* decode_plan(const std::string& text, const std::vector<int>& fds);

}  // namespace modelvet::sandbox
