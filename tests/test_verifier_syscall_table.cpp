// trace/syscall_table.h against the jail's seccomp filter: the program SeccompProgram builds,
// run in user space by the ptrace fallback's evaluator (tracer/seccomp_eval.h), denies exactly
// the table's denied set, with the same errno, and the fallback reports each refusal as
// `denied`. (Here rather than in a module's tests: it needs both sandbox/ and tracer/.)
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/syscall.h>

#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "sandbox/seccomp_filter.h"
#include "trace/syscall_table.h"
#include "tracer/seccomp_eval.h"

namespace modelvet {
namespace {

// Every x86_64 syscall number is below this (the highest is in the 460s).
constexpr long kMaxNr = 1024;

constexpr uint64_t kNamespaceFlags[] = {CLONE_NEWNS,  CLONE_NEWUTS, CLONE_NEWIPC,   CLONE_NEWUSER,
                                        CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP};

// The table's rows by number, through the same SYS_##name the ptrace switch uses.
std::map<long, SyscallRow> rows_by_nr() {
  std::map<long, SyscallRow> rows;
#define MV_BY_NR(name, family, str0, str1, seccomp) rows[SYS_##name] = SyscallRow{#name, family, str0, str1, seccomp};
  MV_SYSCALL_TABLE(MV_BY_NR)
#undef MV_BY_NR
  return rows;
}

tracer::TracedCall call(long nr, uint64_t a0 = 0) {
  tracer::TracedCall c;
  c.nr = static_cast<uint64_t>(nr);
  c.args[0] = a0;
  c.arch = AUDIT_ARCH_X86_64;
  return c;
}

class SyscallTableSeccomp : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    program_ = sandbox::SeccompProgram::build(&error);
    ASSERT_TRUE(program_.valid()) << error;
  }
  uint32_t verdict(const tracer::TracedCall& c) const { return tracer::seccomp_verdict({program_.filter()}, c); }
  bool denied_as_seen_by_ptrace(const tracer::TracedCall& c) const { return tracer::seccomp_denies({program_.filter()}, c); }

  sandbox::SeccompProgram program_;
};

TEST_F(SyscallTableSeccomp, DeniesExactlyTheTablesDeniedSet) {
  const auto rows = rows_by_nr();
  int denied = 0;
  for (long nr = 0; nr < kMaxNr; ++nr) {
    auto it = rows.find(nr);
    int rule = it == rows.end() ? MV_ALLOW : it->second.seccomp;
    const char* name = it == rows.end() ? "(not in the table)" : it->second.name;
    SCOPED_TRACE(::testing::Message() << "syscall " << nr << " " << name);
    if (rule == MV_DENY_BY_RULE) continue;  // ptrace, clone, clone3: below
    uint32_t expected = rule == MV_DENY ? (SECCOMP_RET_ERRNO | EPERM) : SECCOMP_RET_ALLOW;
    EXPECT_EQ(verdict(call(nr)), expected);
    EXPECT_EQ(verdict(call(nr, ~0ull)), expected) << "an MV_DENY / MV_ALLOW row does not depend on arguments";
    if (rule == MV_DENY) {
      EXPECT_TRUE(denied_as_seen_by_ptrace(call(nr))) << "the ptrace fallback would not report it as denied";
      ++denied;
    }
  }
  EXPECT_EQ(denied, static_cast<int>(sandbox::SeccompProgram::denied_syscalls().size()));
}

TEST_F(SyscallTableSeccomp, PtraceAndCloneRulesAreTheTablesSpecialRows) {
  std::vector<std::string> by_rule;
  for (const SyscallRow& row : kSyscallTable)
    if (row.seccomp == MV_DENY_BY_RULE) by_rule.push_back(row.name);
  EXPECT_EQ(by_rule, (std::vector<std::string>{"ptrace", "clone", "clone3"}));

  // ptrace: PTRACE_TRACEME (0) and PTRACE_CONT (7) only; every request that reaches another
  // process (PEEK/POKE 1-6, ATTACH 16, SEIZE 0x4206, ...) and any out-of-range value: EPERM.
  EXPECT_EQ(verdict(call(SYS_ptrace, 0)), SECCOMP_RET_ALLOW) << "PTRACE_TRACEME";
  EXPECT_EQ(verdict(call(SYS_ptrace, 7)), SECCOMP_RET_ALLOW) << "PTRACE_CONT";
  for (uint64_t request : {1ull, 2ull, 3ull, 4ull, 5ull, 6ull, 8ull, 12ull, 16ull, 17ull, 0x4200ull, 0x4206ull,
                           0x4207ull, 0x100000000ull, ~0ull}) {
    SCOPED_TRACE(::testing::Message() << "ptrace request 0x" << std::hex << request);
    EXPECT_EQ(verdict(call(SYS_ptrace, request)), SECCOMP_RET_ERRNO | EPERM);
    EXPECT_TRUE(denied_as_seen_by_ptrace(call(SYS_ptrace, request)));
  }

  // clone: threads and processes yes, any namespace flag no (EPERM).
  EXPECT_EQ(verdict(call(SYS_clone, SIGCHLD)), SECCOMP_RET_ALLOW) << "fork";
  EXPECT_EQ(verdict(call(SYS_clone, CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM |
                                        CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID)),
            SECCOMP_RET_ALLOW)
      << "pthread_create";
  for (uint64_t flag : kNamespaceFlags) {
    SCOPED_TRACE(::testing::Message() << "clone flag 0x" << std::hex << flag);
    EXPECT_EQ(verdict(call(SYS_clone, flag | SIGCHLD)), SECCOMP_RET_ERRNO | EPERM);
    EXPECT_TRUE(denied_as_seen_by_ptrace(call(SYS_clone, flag | SIGCHLD)));
  }
  // clone3: ENOSYS whatever it asks, so glibc falls back to clone(2).
  EXPECT_EQ(verdict(call(SYS_clone3)), SECCOMP_RET_ERRNO | ENOSYS);
}

TEST(SyscallTable, DenyListIsTheTablesDenyRowsInOrder) {
  std::vector<std::string> expected;
  for (const SyscallRow& row : kSyscallTable)
    if (row.seccomp == MV_DENY) expected.push_back(row.name);
  std::vector<std::string> listed(sandbox::SeccompProgram::denied_syscalls().begin(),
                                  sandbox::SeccompProgram::denied_syscalls().end());
  EXPECT_EQ(listed, expected);
  // build() skips a name libseccomp cannot resolve (another architecture): none may be skipped here.
  for (const std::string& name : listed)
    EXPECT_NE(seccomp_syscall_resolve_name(name.c_str()), __NR_SCMP_ERROR) << name;
}

}  // namespace
}  // namespace modelvet
