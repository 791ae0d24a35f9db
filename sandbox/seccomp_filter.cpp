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

namespace modelvet::sandbox {
namespace {

// Namespace creation flags: clone() with any of them is an escape attempt from inside the jail.
constexpr uint64_t kNamespaceFlags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |
                                     CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP;

}  // namespace

const std::vector<const char*>& SeccompProgram::denied_syscalls() {
  static const std::vector<const char*> names = {
      // kernel attack surface and tracing of others
      "bpf", "perf_event_open", "ptrace", "process_vm_readv", "process_vm_writev", "kcmp",
      // changing the jail itself
      "mount", "umount2", "pivot_root", "chroot", "unshare", "setns", "move_mount", "open_tree",
      "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
      // the host kernel and clock
      "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot",
      "swapon", "swapoff", "syslog", "acct", "quotactl", "settimeofday", "clock_settime",
      "clock_adjtime", "adjtimex", "iopl", "ioperm", "vhangup",
      // frequent exploit primitives
      "keyctl", "add_key", "request_key", "userfaultfd", "io_uring_setup", "io_uring_enter",
      "io_uring_register", "open_by_handle_at", "name_to_handle_at", "fanotify_init",
      "lookup_dcookie", "pidfd_getfd",
  };
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
  for (const char* name : denied_syscalls()) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) continue;  // not on this architecture
    if (int rc = seccomp_rule_add(ctx.get(), deny, nr, 0); rc != 0) {
      *error = std::string("seccomp rule for ") + name + " failed: " + strerror(-rc);
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

bool SeccompProgram::install() const {
  sock_fprog prog{static_cast<unsigned short>(filter_.size()), const_cast<sock_filter*>(filter_.data())};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return false;
  return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
}

}  // namespace modelvet::sandbox
