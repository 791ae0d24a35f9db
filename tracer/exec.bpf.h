/* exec family. A successful exec is recorded at sched_process_exec from the new image: the
 * kernel just copied argv onto its stack (resident memory), and bprm->filename is the path as
 * asked. A failed exec is recorded at sys_exit from the caller's memory, which the kernel has
 * just read. Reading at sys_enter does not work: after fork the caller's pages are often not
 * mapped yet, and a tracepoint cannot fault them in. */
#pragma once
#include "tracer/common.bpf.h"

#define MV_EXEC_SCRATCH 16384 /* a power of two, masks below are the verifier's bounds */
union exec_scratch_slot {
  struct mv_exec_rec rec;
  char bytes[MV_EXEC_SCRATCH];
};
_Static_assert(sizeof(struct mv_exec_rec) + MV_ARG_LEN <= MV_EXEC_SCRATCH, "scratch too small");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, union exec_scratch_slot);
} exec_scratch SEC(".maps") __weak;

static __always_inline struct mv_exec_rec *new_exec_rec(const struct mv_jail *jail, long ret, __s32 dirfd) {
  __u32 zero = 0;
  union exec_scratch_slot *slot = bpf_map_lookup_elem(&exec_scratch, &zero);
  if (!slot) return NULL;
  struct mv_exec_rec *rec = &slot->rec;
  fill_header(&rec->h, jail, MV_REC_EXEC);
  rec->ret = ret;
  rec->dirfd = dirfd;
  rec->args_len = 0;
  rec->truncated = 0;
  rec->slotted = 0;
  rec->filename[0] = 0;
  return rec;
}

static __always_inline void send_exec_rec(const struct mv_jail *jail, struct mv_exec_rec *rec) {
  __u64 size = offsetof(struct mv_exec_rec, args) + rec->args_len;
  emit(jail, MV_RING_HIGH, rec, size & (MV_EXEC_SCRATCH - 1));
}

/* The new image: called from raw_tp/sched_process_exec in the context of the exec'd task. */
static __always_inline void record_exec_image(struct linux_binprm *bprm) {
  struct mv_jail jail;
  if (!current_jail(&jail)) return;
  struct mv_exec_rec *rec = new_exec_rec(&jail, 0, -100 /* AT_FDCWD */);
  if (!rec) return;
  bpf_probe_read_kernel_str(rec->filename, sizeof(rec->filename), BPF_CORE_READ(bprm, filename));
  struct task_struct *task = (struct task_struct *)bpf_get_current_task();
  unsigned long start = BPF_CORE_READ(task, mm, arg_start);
  unsigned long end = BPF_CORE_READ(task, mm, arg_end);
  __u64 len = end > start ? end - start : 0;
  if (len > MV_ARGS_LEN - 1) {
    len = MV_ARGS_LEN - 1;
    rec->truncated = 1;
  }
  barrier_var(len);
  len &= MV_ARGS_LEN - 1;
  if (len && bpf_probe_read_user(rec->args, len, (const void *)start) == 0) rec->args_len = len;
  send_exec_rec(&jail, rec);
}

/* A failed execve/execveat, at sys_exit. argv goes in fixed MV_ARG_LEN slots (constant
 * offsets keep the verifier's work small); user space knows by `slotted`. */
static __always_inline void record_failed_exec(const struct mv_jail *jail, const struct inflight_syscall *call, long ret) {
  bool at = call->nr == __NR_execveat;
  struct mv_exec_rec *rec = new_exec_rec(jail, ret, at ? (__s32)call->args[0] : -100);
  if (!rec) return;
  rec->slotted = 1;
  const char *filename = (const char *)(at ? call->args[1] : call->args[0]);
  const char *const *argv = (const char *const *)(at ? call->args[2] : call->args[1]);
  bpf_probe_read_user_str(rec->filename, sizeof(rec->filename), filename);
  __u32 argc = 0;
  for (int i = 0; i < MV_MAX_ARGS && argv; i++) {
    const char *arg = NULL;
    if (bpf_probe_read_user(&arg, sizeof(arg), &argv[i]) || !arg) break;
    long n = bpf_probe_read_user_str(&rec->args[i * MV_ARG_LEN], MV_ARG_LEN, arg);
    if (n <= 0) break;
    if (n == MV_ARG_LEN) rec->truncated = 1;
    argc = i + 1;
  }
  rec->args_len = argc * MV_ARG_LEN;
  send_exec_rec(jail, rec);
}
