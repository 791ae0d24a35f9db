/* Process lifecycle: fork (new processes, not threads) and exit, from the scheduler's raw
 * tracepoints (no tracefs needed; fork as tp_btf). exec: exec.bpf.h. */
#include "tracer/common.bpf.h"
#include <asm/unistd_64.h>

#include "tracer/exec.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The child's fd table is a copy of the parent's: so is its table of folded fds. */
static __always_inline void inherit_folded_fds(struct task_struct *child) {
  struct folded_fds *from = process_folded_fds(false);
  if (!from) return;
  struct folded_fds *to = bpf_task_storage_get(&folded_fds, child, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
  if (to) bpf_probe_read_kernel(to, sizeof(*to), from);
}

/* tp_btf: `child` is a trusted pointer, which task storage needs. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child) {
  struct mv_jail jail;
  if (!current_jail(&jail)) return 0;
  __u32 child_pid = BPF_CORE_READ(child, pid);
  __u32 child_tgid = BPF_CORE_READ(child, tgid);
  if (child_pid != child_tgid) return 0; /* a thread of the same process */
  inherit_folded_fds(child);
  struct mv_proc_rec rec = {};
  fill_header(&rec.h, &jail, MV_REC_FORK);
  rec.child_pid = child_tgid;
  emit(&jail, MV_RING_HIGH, &rec, sizeof(rec));
  return 0;
}

SEC("raw_tp/sched_process_exit")
int BPF_PROG(on_exit) {
  struct mv_jail jail;
  if (!current_jail(&jail)) return 0;
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  if ((__u32)pid_tgid != (pid_tgid >> 32)) return 0; /* only the main thread ends the process */
  struct task_struct *task = (struct task_struct *)bpf_get_current_task();
  struct mv_proc_rec rec = {};
  fill_header(&rec.h, &jail, MV_REC_EXIT);
  rec.exit_code = BPF_CORE_READ(task, exit_code);
  emit(&jail, MV_RING_HIGH, &rec, sizeof(rec));
  return 0;
}

SEC("raw_tp/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm) {
  record_exec_image(bprm);
  return 0;
}
