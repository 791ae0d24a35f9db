/* Calls no model load makes: process control (ptrace, kill) and the escape / privilege toolbox
 * (mount, unshare, bpf, module loading...). Recorded with their raw arguments and result. */
#pragma once
#include "tracer/syscall_rec.bpf.h"

static __always_inline bool handle_attempt_exit(const struct mv_jail *jail, const struct inflight_syscall *call, long ret) {
  __u64 first = 0, second = 0;
  switch (call->nr) {
    case __NR_ptrace: case __NR_kill: case __NR_tkill: case __NR_tgkill:
    case __NR_unshare: case __NR_setns: case __NR_bpf: case __NR_perf_event_open:
    case __NR_init_module: case __NR_finit_module: case __NR_delete_module:
    case __NR_kexec_load: case __NR_kexec_file_load: case __NR_keyctl: case __NR_add_key:
    case __NR_request_key: case __NR_userfaultfd: case __NR_io_uring_setup:
    case __NR_open_by_handle_at: case __NR_process_vm_readv: case __NR_process_vm_writev:
    case __NR_fsopen: case __NR_fsmount: case __NR_move_mount: case __NR_open_tree:
    case __NR_mount_setattr: case __NR_setuid: case __NR_setgid: case __NR_setresuid:
    case __NR_setresgid: case __NR_capset: case __NR_personality: case __NR_seccomp:
      break;
    case __NR_mount: first = call->args[1]; second = call->args[0]; break; /* target, source */
    case __NR_umount2: case __NR_chroot: first = call->args[0]; break;
    case __NR_pivot_root: first = call->args[0]; second = call->args[1]; break;
    default:
      return false;
  }
  struct mv_syscall_rec *rec = new_syscall_rec(jail, MV_REC_SYSCALL, call, ret);
  if (!rec) return true;
  rec_read_str(rec, 0, first);
  rec_read_str(rec, 1, second);
  send_syscall_rec(jail, MV_RING_HIGH, rec);
  return true;
}
