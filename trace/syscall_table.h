/* The one list of the syscalls modelvet singles out beyond the exec, file and network families:
 * those the tracer records as attempts (with which arguments are strings to keep) and those
 * the jail's seccomp filter denies. Each consumer expands MV_SYSCALL_TABLE with its own X:
 *   tracer/attempts.bpf.h       case __NR_##name   (the eBPF sys_exit handler)
 *   tracer/ptrace_records.cpp   case SYS_##name    (the ptrace fallback, same records)
 *   sandbox/seccomp_filter.cpp  #name              (the deny list, resolved by libseccomp)
 * so adding a row updates all three. A name that is not a syscall of the build's architecture,
 * or a duplicate row, breaks the build (undefined __NR_/SYS_, duplicate case label);
 * tests/test_verifier_syscall_table.cpp checks the generated parts agree.
 *
 * Plain C preprocessor and no includes: the BPF programs (clang -target bpf, vmlinux.h) and
 * C++ both include it. */
#pragma once

/* family: what the tracer records when the call runs (a call seccomp refuses is a `denied`
 * event, whatever its family). */
#define MV_ATTEMPT 1    /* a `syscall_attempt` event: nr, raw args, ret, the string args below */
#define MV_PROCESS 2    /* its own event kind (`ptrace`, `kill`: tracer/record_decoder.cpp) */
#define MV_UNRECORDED 0 /* nothing: listed only because seccomp denies it */

/* str0 / str1: the argument (0-5) whose user string goes to the record's str[0] / str[1]
 * (`path`, then `source` for mount or `path2`), or none. */
#define MV_NO_STR (-1)

/* seccomp: what the jail's filter does with the call. */
#define MV_ALLOW 0
#define MV_DENY 1         /* SCMP_ACT_ERRNO(EPERM) whatever the arguments */
#define MV_DENY_BY_RULE 2 /* a special rule, written out and explained in seccomp_filter.cpp */

/* X(name, family, str0, str1, seccomp). The order of the MV_DENY rows is the order of
 * SeccompProgram::denied_syscalls() (doctor and the trace header show it). */
#define MV_SYSCALL_TABLE(X) \
  /* kernel attack surface and tracing of others */ \
  X(bpf,               MV_ATTEMPT,    MV_NO_STR, MV_NO_STR, MV_DENY) \
  X(perf_event_open,   MV_ATTEMPT,    MV_NO_STR, MV_NO_STR, MV_DENY) \
  X(ptrace,            MV_PROCESS,    MV_NO_STR, MV_NO_STR, MV_DENY_BY_RULE) /* all but TRACEME, CONT: EPERM */ \
  X(process_vm_readv,  MV_ATTEMPT,    MV_NO_STR, MV_NO_STR, MV_DENY) \
  X(process_vm_writev, MV_ATTEMPT,    MV_NO_STR, MV_NO_STR, MV_DENY) \
  X(kcmp,              MV_UNRECORDED, MV_NO_STR, MV_NO_STR, MV_DENY) \
  /* changing the jail itself */ \
  X(mount,             MV_ATTEMPT,    1,         0,         MV_DENY) /* target, source */ \
  X(umount2,           MV_ATTEMPT,    0,         MV_NO_STR, MV_DENY) \
  X(pivot_root,        MV_ATTEMPT,    0,         1,         MV_DENY) /* new_root, put_old */ \
  X(chroot,            MV_ATTEMPT,    0,         MV_NO_STR, MV_DENY) \
  X(unshare,           MV_ATTEMPT,    MV_NO_STR, MV_NO_STR, MV_DENY) \
  X(setns,             MV_ATTEMPT,    MV_NO_STR, MV_NO_STR, MV_DENY) \
  X(move_mount,        MV_ATTEMPT,    MV_NO_STR, MV_NO_STR, MV_DENY) \
  X(open_tree,         MV_ATTEMPT,    MV_NO_STR, MV_NO_STR, MV_DENY) \
  X(fsopen,            MV_ATTEMPT,    MV_NO_STR, MV_NO_STR, MV_DENY) \
  X(fsconfig,          MV_UNRECORDED, MV_NO_STR, MV_NO_STR, MV_DENY) \
  X(fsmount,           MV_ATTEMPT,    MV_NO_STR, MV_NO_STR, MV_DENY) \
  X(fspick,            MV_UNRECORDED, MV_NO_STR, MV_NO_STR, MV_DENY) \
  X(mount_setattr,     MV_ATTEMPT,    MV_NO_STR, MV_NO_STR, MV_DENY) \
  /* the host kernel and clock */ \
  X(kexec_load,        MV_ATTEMPT,    MV_NO_STR, MV_NO_STR, MV_DENY) \
  X(kexec_file_load,   MV_ATTEMPT,    MV_NO_STR, MV_NO_STR, MV_DENY) \
  X(init_module,       MV_ATTEMPT,    MV_NO_STR, MV_NO_STR, MV_DENY) \
  X(finit_module,      MV_ATTEMPT,    MV_NO_STR, MV_NO_STR, MV_DENY) \
  X(delete_module,     MV_ATTEMPT,    MV_NO_STR, MV_NO_STR, MV_DENY) \
  X(reboot,            MV_UNRECORDED, MV_NO_STR, MV_NO_STR, MV_DENY) \
  X(swapon,            MV_UNRECORDED, MV_NO_STR, MV_NO_STR, MV_DENY) \
  X(swapoff,           MV_UNRECORDED, MV_NO_STR, MV_NO_STR, MV_DENY) \
  X(syslog,            MV_UNRECORDED, MV_NO_STR, MV_NO_STR, MV_DENY) \
  X(acct,              MV_UNRECORDED, MV_NO_STR, MV_NO_STR, MV_DENY) \
  X(quotactl,          MV_UNRECORDED, MV_NO_STR, MV_NO_STR, MV_DENY) \
  X(settimeofday,      MV_UNRECORDED, MV_NO_STR, MV_NO_STR, MV_DENY) \
  X(clock_settime,     MV_UNRECORDED, MV_NO_STR, MV_NO_STR, MV_DENY) \
  X(clock_adjtime,     MV_UNRECORDED, MV_NO_STR, MV_NO_STR, MV_DENY) \
  X(adjtimex,          MV_UNRECORDED, MV_NO_STR, MV_NO_STR, MV_DENY) \
  X(iopl,              MV_UNRECORDED, MV_NO_STR, MV_NO_STR, MV_DENY) \
  X(ioperm,            MV_UNRECORDED, MV_NO_STR, MV_NO_STR, MV_DENY) \
  X(vhangup,           MV_UNRECORDED, MV_NO_STR, MV_NO_STR, MV_DENY) \
  /* frequent exploit primitives */ \
  X(keyctl,            MV_ATTEMPT,    MV_NO_STR, MV_NO_STR, MV_DENY) \
  X(add_key,           MV_ATTEMPT,    MV_NO_STR, MV_NO_STR, MV_DENY) \
  X(request_key,       MV_ATTEMPT,    MV_NO_STR, MV_NO_STR, MV_DENY) \
  X(userfaultfd,       MV_ATTEMPT,    MV_NO_STR, MV_NO_STR, MV_DENY) \
  X(io_uring_setup,    MV_ATTEMPT,    MV_NO_STR, MV_NO_STR, MV_DENY) \
  X(io_uring_enter,    MV_UNRECORDED, MV_NO_STR, MV_NO_STR, MV_DENY) \
  X(io_uring_register, MV_UNRECORDED, MV_NO_STR, MV_NO_STR, MV_DENY) \
  X(open_by_handle_at, MV_ATTEMPT,    MV_NO_STR, MV_NO_STR, MV_DENY) \
  X(name_to_handle_at, MV_UNRECORDED, MV_NO_STR, MV_NO_STR, MV_DENY) \
  X(fanotify_init,     MV_UNRECORDED, MV_NO_STR, MV_NO_STR, MV_DENY) \
  X(lookup_dcookie,    MV_UNRECORDED, MV_NO_STR, MV_NO_STR, MV_DENY) \
  X(pidfd_getfd,       MV_UNRECORDED, MV_NO_STR, MV_NO_STR, MV_DENY) \
  /* namespaces through clone: only some arguments are denied (seccomp_filter.cpp) */ \
  X(clone,             MV_UNRECORDED, MV_NO_STR, MV_NO_STR, MV_DENY_BY_RULE) /* namespace flags: EPERM */ \
  X(clone3,            MV_UNRECORDED, MV_NO_STR, MV_NO_STR, MV_DENY_BY_RULE) /* always ENOSYS */ \
  /* allowed, and recorded: signals, identity, personality and seccomp itself */ \
  X(kill,              MV_PROCESS,    MV_NO_STR, MV_NO_STR, MV_ALLOW) \
  X(tkill,             MV_PROCESS,    MV_NO_STR, MV_NO_STR, MV_ALLOW) \
  X(tgkill,            MV_PROCESS,    MV_NO_STR, MV_NO_STR, MV_ALLOW) \
  X(setuid,            MV_ATTEMPT,    MV_NO_STR, MV_NO_STR, MV_ALLOW) \
  X(setgid,            MV_ATTEMPT,    MV_NO_STR, MV_NO_STR, MV_ALLOW) \
  X(setresuid,         MV_ATTEMPT,    MV_NO_STR, MV_NO_STR, MV_ALLOW) \
  X(setresgid,         MV_ATTEMPT,    MV_NO_STR, MV_NO_STR, MV_ALLOW) \
  X(capset,            MV_ATTEMPT,    MV_NO_STR, MV_NO_STR, MV_ALLOW) \
  X(personality,       MV_ATTEMPT,    MV_NO_STR, MV_NO_STR, MV_ALLOW) \
  X(seccomp,           MV_ATTEMPT,    MV_NO_STR, MV_NO_STR, MV_ALLOW)

#ifdef __cplusplus
namespace modelvet {

// The table as data, for C++ code that walks it (the seccomp deny list, tests).
struct SyscallRow {
  const char* name;
  int family;   // MV_ATTEMPT | MV_PROCESS | MV_UNRECORDED
  int str0;     // argument index or MV_NO_STR
  int str1;
  int seccomp;  // MV_ALLOW | MV_DENY | MV_DENY_BY_RULE
};

#define MV_SYSCALL_ROW(name, family, str0, str1, seccomp) SyscallRow{#name, family, str0, str1, seccomp},
inline constexpr SyscallRow kSyscallTable[] = {MV_SYSCALL_TABLE(MV_SYSCALL_ROW)};
#undef MV_SYSCALL_ROW

// Checked at build time: a string slot names one of the six arguments, and every value is one
// of the constants above (the consumers index args[] with it and compare against them).
constexpr bool syscall_table_is_well_formed() {
  for (const SyscallRow& row : kSyscallTable) {
    if (row.str0 < MV_NO_STR || row.str0 > 5 || row.str1 < MV_NO_STR || row.str1 > 5) return false;
    if (row.family != MV_ATTEMPT && row.family != MV_PROCESS && row.family != MV_UNRECORDED) return false;
    if (row.seccomp != MV_ALLOW && row.seccomp != MV_DENY && row.seccomp != MV_DENY_BY_RULE) return false;
  }
  return true;
}
static_assert(syscall_table_is_well_formed(), "trace/syscall_table.h: a row has a bad value");

}  // namespace modelvet
#endif
