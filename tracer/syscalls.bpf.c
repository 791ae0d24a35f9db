/* The syscall dispatcher: one raw tracepoint on sys_enter and one on sys_exit for the whole
 * host, filtered to jailed tasks, then one handler per event family (exec, files, net,
 * attempts). Pairing enter with exit gives every record its result, and exposes the syscalls
 * seccomp rejected: they never reach sys_enter, but sys_exit fires with their registers. */
#include "tracer/common.bpf.h"
#include <asm/unistd_64.h>
#ifndef __NR_fchmodat2
#define __NR_fchmodat2 452 /* newer than Debian 12's headers */
#endif

#include "tracer/syscall_rec.bpf.h"
#include "tracer/exec.bpf.h"
#include "tracer/files.bpf.h"
#include "tracer/net.bpf.h"
#include "tracer/attempts.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define MV_EPERM 1
#define MV_EACCES 13

static __always_inline void read_syscall_args(struct pt_regs *regs, struct inflight_syscall *call) {
  call->args[0] = BPF_CORE_READ(regs, di);
  call->args[1] = BPF_CORE_READ(regs, si);
  call->args[2] = BPF_CORE_READ(regs, dx);
  call->args[3] = BPF_CORE_READ(regs, r10);
  call->args[4] = BPF_CORE_READ(regs, r8);
  call->args[5] = BPF_CORE_READ(regs, r9);
}

SEC("raw_tp/sys_enter")
int BPF_PROG(on_sys_enter, struct pt_regs *regs, long id) {
  struct mv_jail jail;
  if (!current_jail(&jail)) return 0;
  struct inflight_syscall call = {.nr = (__u64)id};
  read_syscall_args(regs, &call);
  __u32 tid = (__u32)bpf_get_current_pid_tgid();
  bpf_map_update_elem(&inflight, &tid, &call, BPF_ANY);
  return 0;
}

/* seccomp's SCMP_ACT_ERRNO answers: a sys_exit with one of these and no sys_enter was denied. */
static __always_inline bool is_denial(long ret) { return ret == -MV_EPERM || ret == -MV_EACCES; }

SEC("raw_tp/sys_exit")
int BPF_PROG(on_sys_exit, struct pt_regs *regs, long ret) {
  struct mv_jail jail;
  if (!current_jail(&jail)) return 0;
  __u32 tid = (__u32)bpf_get_current_pid_tgid();
  __u64 nr = BPF_CORE_READ(regs, orig_ax);
  struct inflight_syscall *entered = bpf_map_lookup_elem(&inflight, &tid);
  struct inflight_syscall call = {.nr = nr};
  if (entered && entered->nr == nr) {
    call = *entered;
    bpf_map_delete_elem(&inflight, &tid);
  } else {
    if (entered) bpf_map_delete_elem(&inflight, &tid);
    if (!is_denial(ret)) return 0;
    read_syscall_args(regs, &call);
    struct mv_syscall_rec *rec = new_syscall_rec(&jail, MV_REC_DENIED, &call, ret);
    if (rec) send_syscall_rec(&jail, MV_RING_HIGH, rec);
    return 0;
  }
  if (nr == __NR_execve || nr == __NR_execveat) {
    if (ret < 0) record_failed_exec(&jail, &call, ret); /* success: see sched_process_exec */
    return 0;
  }
  if (handle_file_exit(&jail, &call, ret)) return 0;
  if (handle_net_exit(&jail, &call, ret)) return 0;
  handle_attempt_exit(&jail, &call, ret);
  return 0;
}
