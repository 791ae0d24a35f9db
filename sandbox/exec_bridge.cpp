#include "sandbox/exec_bridge.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>

#include <fmt/core.h>

#include "process/helper_mode.h"
#include "sandbox/fd_passing.h"
#include "sandbox/plan_codec.h"

namespace modelvet::sandbox {
namespace {

constexpr int kPlanSocketFd = 3;

int bridge_main(int, char**) {
  std::vector<int> fds;
  std::string text;
  // Sent before the spawn: it is already there, or the supervisor failed to send it.
  if (!receive_fds(kPlanSocketFd, kPlanFds, 0, &fds, &text, kMaxPlanBytes)) _exit(127);
  close(kPlanSocketFd);
  ChildPlan* plan = nullptr;
  try {
    plan = decode_plan(text, fds);
  } catch (const std::exception& e) {
    if (fds.size() > kStatusW) child_fail(fds[kStatusW], std::string("bridge plan: ") + e.what());
    _exit(127);
  }
  jail_bridge(*plan);
}

const process::HelperMode kBridge{kBridgeMode, bridge_main};

}  // namespace

pid_t spawn_exec_bridge(const ChildPlan& plan, std::string* error) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    *error = fmt::format("bridge socket: {}", strerror(errno));
    return -1;
  }
  EncodedPlan message = encode_plan(plan);
  pid_t bridge = -1;
  if (!send_fds(sv[0], message.fds, message.text)) *error = fmt::format("send the bridge's plan: {}", strerror(errno));
  else bridge = process::spawn_helper({"modelvet", kBridgeMode, {}, {sv[1]}}, error);
  close(sv[0]), close(sv[1]);
  return bridge;
}

}  // namespace modelvet::sandbox
