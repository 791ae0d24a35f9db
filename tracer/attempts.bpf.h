/* Calls no model load makes: process control (ptrace, kill) and the escape / privilege toolbox
 * (mount, unshare, bpf, module loading...). Recorded with their raw arguments and result.
 * Which calls, and which of their arguments are strings, is trace/syscall_table.h. */
#pragma once
#include "tracer/syscall_rec.bpf.h"
#include "trace/syscall_table.h"

/* The user pointer a table row names (str0/str1), 0 for MV_NO_STR; i is a constant per case,
 * so this folds to a plain load. */
static __always_inline __u64 string_arg(const struct inflight_syscall *call, int i) {
  return i >= 0 && i < 6 ? call->args[i] : 0;
}

/* One case per table row; rows seccomp only denies end here, like any other call. */
#define MV_ATTEMPT_CASE(name, family, str0, str1, seccomp) \
  case __NR_##name: \
    if (family == MV_UNRECORDED) return false; \
    first = string_arg(call, str0); \
    second = string_arg(call, str1); \
    break;

static __always_inline bool handle_attempt_exit(const struct mv_jail *jail, const struct inflight_syscall *call, long ret) {
  __u64 first = 0, second = 0;
  switch (call->nr) {
    MV_SYSCALL_TABLE(MV_ATTEMPT_CASE)
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

#undef MV_ATTEMPT_CASE
