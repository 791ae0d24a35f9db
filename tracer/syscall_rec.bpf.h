/* Building an mv_syscall_rec in per-CPU scratch (it is too large for the BPF stack) and
 * sending exactly the bytes that are filled. */
#pragma once
#include "tracer/common.bpf.h"

/* Padded to a power of two: masking a computed size with (MV_SYSCALL_SCRATCH - 1) is the
 * bound the verifier can always follow. */
#define MV_SYSCALL_SCRATCH 2048
union syscall_scratch_slot {
  struct mv_syscall_rec rec;
  char bytes[MV_SYSCALL_SCRATCH];
};
_Static_assert(sizeof(struct mv_syscall_rec) <= MV_SYSCALL_SCRATCH, "scratch too small");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, union syscall_scratch_slot);
} syscall_scratch SEC(".maps") __weak;

/* Everything but the strings (record_open reads its path first, to fold repeats cheaply). */
static __always_inline void fill_syscall_rec(struct mv_syscall_rec *rec, const struct mv_jail *jail, __u32 type,
                                             const struct inflight_syscall *call, long ret) {
  fill_header(&rec->h, jail, type);
  for (int i = 0; i < 6; i++) rec->args[i] = call->args[i];
  rec->nr = call->nr;
  rec->ret = ret;
  rec->aux = 0;
  rec->path_hash = 0;
}

static __always_inline struct mv_syscall_rec *new_syscall_rec(const struct mv_jail *jail, __u32 type,
                                                              const struct inflight_syscall *call, long ret) {
  __u32 zero = 0;
  union syscall_scratch_slot *slot = bpf_map_lookup_elem(&syscall_scratch, &zero);
  if (!slot) return NULL;
  struct mv_syscall_rec *rec = &slot->rec;
  fill_syscall_rec(rec, jail, type, call, ret);
  rec->len[0] = 0;
  rec->len[1] = 0;
  return rec;
}

/* A NUL-terminated user string into str[slot]. */
static __always_inline void rec_read_str(struct mv_syscall_rec *rec, int slot, __u64 user_ptr) {
  if (!user_ptr) return;
  long n = bpf_probe_read_user_str(rec->str[slot & 1], MV_PATH_LEN, (const void *)user_ptr);
  rec->len[slot & 1] = n > 0 ? n : 0;
}

/* Raw user bytes (a struct sockaddr) into str[slot]. */
static __always_inline void rec_read_bytes(struct mv_syscall_rec *rec, int slot, __u64 user_ptr, __u64 len) {
  if (!user_ptr || len == 0) return;
  if (len > MV_PATH_LEN) len = MV_PATH_LEN;
  barrier_var(len); /* keep the mask below: it is the bound the verifier sees */
  len &= 2 * MV_PATH_LEN - 1;
  if (bpf_probe_read_user(rec->str[slot & 1], len, (const void *)user_ptr) == 0)
    rec->len[slot & 1] = len;
}

static __always_inline bool send_syscall_rec(const struct mv_jail *jail, __u32 ring, struct mv_syscall_rec *rec) {
  /* len[] values are in [0, MV_PATH_LEN] (set by rec_read_*) */
  __u64 size = offsetof(struct mv_syscall_rec, str);
  if (rec->len[1] > 0)
    size += MV_PATH_LEN + (__u32)rec->len[1];
  else
    size += (__u32)rec->len[0];
  return emit(jail, ring, rec, size & (MV_SYSCALL_SCRATCH - 1));
}

/* The common case: one record, no strings beyond those the caller already read. */
static __always_inline void record_syscall(const struct mv_jail *jail, __u32 ring,
                                           const struct inflight_syscall *call, long ret) {
  struct mv_syscall_rec *rec = new_syscall_rec(jail, MV_REC_SYSCALL, call, ret);
  if (rec) send_syscall_rec(jail, ring, rec);
}
