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

/* tp_btf, not raw_tp: the registers are read with plain loads (BTF-typed pointer) instead of a
 * bpf_probe_read_kernel per syscall, which was most of the cost of an unrecorded call. */
static __always_inline void read_syscall_args(struct pt_regs *regs, struct inflight_syscall *call) {
  call->args[0] = regs->di;
  call->args[1] = regs->si;
  call->args[2] = regs->dx;
  call->args[3] = regs->r10;
  call->args[4] = regs->r8;
  call->args[5] = regs->r9;
}

/* Only the mark: the arguments are read at sys_exit, where the registers still hold them. */
SEC("tp_btf/sys_enter")
int BPF_PROG(on_sys_enter, struct pt_regs *regs, long id) {
  struct mv_jail jail;
  if (!current_jail(&jail)) return 0;
  struct entered_mark *mark = bpf_task_storage_get(&entered, bpf_get_current_task_btf(), 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
  if (mark) mark->nr_plus_one = (__u64)id + 1;
  return 0;
}

/* seccomp's SCMP_ACT_ERRNO answers: a sys_exit with one of these and no sys_enter was denied. */
static __always_inline bool is_denial(long ret) { return ret == -MV_EPERM || ret == -MV_EACCES; }

SEC("tp_btf/sys_exit")
int BPF_PROG(on_sys_exit, struct pt_regs *regs, long ret) {
  struct mv_jail jail;
  if (!current_jail(&jail)) return 0;
  __u64 nr = regs->orig_ax;
  struct entered_mark *mark = bpf_task_storage_get(&entered, bpf_get_current_task_btf(), 0, 0);
  bool was_entered = mark && mark->nr_plus_one == nr + 1;
  if (mark) mark->nr_plus_one = 0;
  if (!was_entered && !is_denial(ret)) return 0;
  struct inflight_syscall call = {.nr = nr};
  read_syscall_args(regs, &call);
  if (!was_entered) {
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
