#include "sandbox/seccomp_filter.h"

#include <cstring>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <memory>
#include <string_view>

#include "trace/syscall_table.h"

namespace modelvet::sandbox {
namespace {

// Namespace creation flags: clone() with any of them is an escape attempt from inside the jail.
constexpr uint64_t kNamespaceFlags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |
                                     CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP;

// What trace/syscall_table.h says seccomp does with a syscall (MV_ALLOW when it is not listed).
constexpr int table_verdict(std::string_view name) {
  for (const SyscallRow& row : kSyscallTable)
    if (name == row.name) return row.seccomp;
  return MV_ALLOW;
}

constexpr int rows_denied_by_rule() {
  int n = 0;
  for (const SyscallRow& row : kSyscallTable) n += row.seccomp == MV_DENY_BY_RULE;
  return n;
}

// The special rules in build() are exactly the table's MV_DENY_BY_RULE rows: a new such row
// needs its rule written here.
static_assert(table_verdict("ptrace") == MV_DENY_BY_RULE && table_verdict("clone") == MV_DENY_BY_RULE &&
                  table_verdict("clone3") == MV_DENY_BY_RULE && rows_denied_by_rule() == 3,
              "trace/syscall_table.h and the ptrace/clone/clone3 rules of SeccompProgram::build disagree");

// ptrace requests the filter lets through: PTRACE_TRACEME makes the caller its parent's tracee
// (a workstation answers 0; EPERM is the classic "a debugger is here" tell), and PTRACE_CONT
// resumes a tracee of the caller's own (the loader's shell resumes a harness that made itself
// traced). Neither reaches another process's memory or registers.
constexpr uint64_t kPtraceTraceme = 0, kPtraceCont = 7;

}  // namespace

// The table's MV_DENY rows, in table order.
const std::vector<const char*>& SeccompProgram::denied_syscalls() {
  static const std::vector<const char*> names = [] {
    std::vector<const char*> denied;
    for (const SyscallRow& row : kSyscallTable)
      if (row.seccomp == MV_DENY) denied.push_back(row.name);
    return denied;
  }();
  return names;
}

SeccompProgram SeccompProgram::build(std::string* error) {
  SeccompProgram program;
  std::unique_ptr<void, void (*)(scmp_filter_ctx)> ctx(seccomp_init(SCMP_ACT_ALLOW), seccomp_release);
  if (!ctx) {
    *error = "seccomp_init failed";
    return program;
  }
  const uint32_t deny = SCMP_ACT_ERRNO(EPERM);
  // The table's MV_DENY rows: EPERM whatever the arguments.
  for (const char* name : denied_syscalls()) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) continue;  // not on this architecture
    if (int rc = seccomp_rule_add(ctx.get(), deny, nr, 0); rc != 0) {
      *error = std::string("seccomp rule for ") + name + " failed: " + strerror(-rc);
      return program;
    }
  }
  // The table's MV_DENY_BY_RULE rows (checked by the static_assert above).
  // ptrace: EPERM for every request but TRACEME and CONT (requests 1-6, then above 7).
  for (uint64_t request = kPtraceTraceme + 1; request <= kPtraceCont; ++request) {
    const bool last = request == kPtraceCont;
    if (int rc = seccomp_rule_add(ctx.get(), deny, SCMP_SYS(ptrace), 1,
                                  last ? SCMP_A0(SCMP_CMP_GT, kPtraceCont) : SCMP_A0(SCMP_CMP_EQ, request));
        rc != 0) {
      *error = std::string("seccomp ptrace rule failed: ") + strerror(-rc);
      return program;
    }
  }
  // clone(2) may create threads and processes, never namespaces: one rule per flag, since
  // libseccomp ORs separate rules and a masked compare tests one bit pattern.
  for (uint64_t flag = 1; flag != 0; flag <<= 1) {
    if (!(flag & kNamespaceFlags)) continue;
    if (int rc = seccomp_rule_add(ctx.get(), deny, SCMP_SYS(clone), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag));
        rc != 0) {
      *error = std::string("seccomp clone rule failed: ") + strerror(-rc);
      return program;
    }
  }
  // clone3 passes its flags in memory, out of seccomp's reach: ENOSYS makes glibc fall back to
  // clone(2), whose flags the rules above do check.
  seccomp_rule_add(ctx.get(), SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);

  int memfd = memfd_create("modelvet-seccomp", MFD_CLOEXEC);
  if (memfd < 0 || seccomp_export_bpf(ctx.get(), memfd) != 0) {
    *error = "seccomp_export_bpf failed";
    if (memfd >= 0) close(memfd);
    return program;
  }
  off_t size = lseek(memfd, 0, SEEK_END);
  std::vector<sock_filter> filter(size / sizeof(sock_filter));
  bool ok = pread(memfd, filter.data(), size, 0) == size;
  close(memfd);
  if (!ok || filter.empty()) {
    *error = "could not read the exported seccomp program";
    return program;
  }
  program.filter_ = std::move(filter);
  return program;
}

SeccompProgram SeccompProgram::from_filter(std::vector<sock_filter> filter) {
  SeccompProgram program;
  program.filter_ = std::move(filter);
  return program;
}

bool SeccompProgram::install() const {
  sock_fprog prog{static_cast<unsigned short>(filter_.size()), const_cast<sock_filter*>(filter_.data())};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return false;
  return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
}

}  // namespace modelvet::sandbox
