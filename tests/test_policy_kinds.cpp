// The policy's field table and the trace model's kind registry describe the same kinds: a kind
// added on one side only fails here, not silently in a rule that never matches.
#include <set>

#include <gtest/gtest.h>

#include "policies/event_fields.h"
#include "trace/event.h"

using namespace modelvet;

TEST(PolicyKinds, TheFieldTableAndTheTraceRegistryAgree) {
  std::set<std::pair<std::string, std::string>> described;
  for (const auto& sk : policy::described_kinds()) {
    described.insert(sk);
    EXPECT_TRUE(is_known_kind(sk.first, sk.second)) << sk.first << "/" << sk.second << " is not in trace/event.h";
  }
  using namespace kinds;
  for (const char* k : {kExec, kFork, kExit, kOpen, kUnlink, kRename, kLink, kMkdir, kChmod, kWrite, kSocket, kConnect, kBind,
                        kSendto, kListen, kNetRedirect, kMmapExec, kMemfdCreate, kPtrace, kKill, kSyscallAttempt, kDenied, kLimit})
    EXPECT_TRUE(described.count({kSourceKernel, k})) << k << " has no fields in policies/event_fields.cpp";
  for (const char* k : {kPhase, kCall, kAudit, kStub, kLoad, kExercise, kTimeWarp, kHarnessError})
    EXPECT_TRUE(described.count({kSourcePython, k})) << k;
  for (const char* k : {kTcpConnect, kHttp, kDns, kUdp}) EXPECT_TRUE(described.count({kSourceNet, k})) << k;
}
