/* Shared by every *.bpf.c: the maps (declared __weak so that each object file can name them
 * and `bpftool gen object` merges them into one), the jail filter and the ring-buffer output. */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>

#include "tracer/trace_records.h"

#define MV_MAX_JAILS 256
#define MV_RB_HIGH_SIZE (16 * 1024 * 1024)
#define MV_RB_BULK_SIZE (8 * 1024 * 1024)

/* Jails being recorded: cgroup id -> redirect ports and per-jail counters. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, MV_MAX_JAILS);
  __type(key, __u64);
  __type(value, struct mv_watch);
} watched SEC(".maps") __weak;

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, MV_RB_HIGH_SIZE);
} rb_high SEC(".maps") __weak;

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, MV_RB_BULK_SIZE);
} rb_bulk SEC(".maps") __weak;

/* A syscall's number and arguments, as the handlers see them at sys_exit. */
struct inflight_syscall {
  __u64 args[6];
  __u64 nr;
};

/* The syscall each task of a jail is inside (nr + 1; 0 = none), written at sys_enter in
 * task-local storage (cheaper than a hash keyed by tid, freed with the task): sys_exit pairs
 * with it, and a sys_exit without it is a syscall seccomp rejected before sys_enter. */
struct entered_mark {
  __u64 nr_plus_one;
};

struct {
  __uint(type, BPF_MAP_TYPE_TASK_STORAGE);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, int);
  __type(value, struct entered_mark);
} entered SEC(".maps") __weak;

/* Per process (stored on the thread-group leader, which shares the fd table with its threads):
 * the path hash of each fd < MV_FOLDED_FDS that a folded open returned (files.bpf.h), 0 for any
 * other fd; a forked child starts with a copy. Task storage rather than a hash map: a lookup per
 * open/close instead of an update/delete, and it goes away with the process. Folded fds need
 * it: their close is not emitted (user space never learnt them) and an executable mapping of
 * one carries its hash. */
#define MV_FOLDED_FDS 256
struct folded_fds {
  __u64 hash[MV_FOLDED_FDS];
};

struct {
  __uint(type, BPF_MAP_TYPE_TASK_STORAGE);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, int);
  __type(value, struct folded_fds);
} folded_fds SEC(".maps") __weak;

static __always_inline struct folded_fds *process_folded_fds(bool create) {
  struct task_struct *leader = bpf_get_current_task_btf()->group_leader;
  return bpf_task_storage_get(&folded_fds, leader, 0, create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
}

/* The slot of fd, or NULL (no storage, or an fd beyond the table). */
static __always_inline __u64 *folded_fd_slot(struct folded_fds *t, __s64 fd) {
  if (!t || fd < 0 || fd >= MV_FOLDED_FDS) return NULL;
  return &t->hash[fd & (MV_FOLDED_FDS - 1)];
}

/* Host-wide losses per ring (all jails together); the per-jail split is in `watched`. */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, MV_RING_COUNT);
  __type(key, __u32);
  __type(value, __u64);
} ring_drops SEC(".maps") __weak;

/* The cgroup depth of the jails (set by user space): a task in a sub-cgroup that a jail created
 * is still attributed to the jail through its ancestor at this level. 0 = exact ids only. */
__u32 jail_level __weak = 0;

struct mv_jail {
  __u64 id;
  struct mv_watch *watch;
};

/* The jail the current task belongs to, or false. Runs on every syscall of the host: one map
 * lookup for tasks outside any jail (two when jail_level is set). */
static __always_inline bool current_jail(struct mv_jail *jail) {
  __u64 id = bpf_get_current_cgroup_id();
  struct mv_watch *w = bpf_map_lookup_elem(&watched, &id);
  if (!w && jail_level > 0) {
    id = bpf_get_current_ancestor_cgroup_id(jail_level);
    w = bpf_map_lookup_elem(&watched, &id);
  }
  if (!w) return false;
  jail->id = id;
  jail->watch = w;
  return true;
}

static __always_inline void fill_header(struct mv_header *h, const struct mv_jail *jail, __u32 type) {
  __u64 pid_tgid = bpf_get_current_pid_tgid();
  struct task_struct *task = (struct task_struct *)bpf_get_current_task();
  h->t_ns = bpf_ktime_get_ns();
  h->cgroup_id = jail->id;
  h->type = type;
  h->pid = pid_tgid >> 32;
  h->tid = (__u32)pid_tgid;
  h->ppid = BPF_CORE_READ(task, real_parent, tgid);
  bpf_get_current_comm(h->comm, sizeof(h->comm));
}

/* Waking a reader costs more than a record (an irq_work and a context switch): the readers
 * poll every 20 ms anyway, so a record wakes them only once its ring is a quarter full. */
static __always_inline __u64 wakeup_flag(__u64 pending, __u64 capacity) {
  return pending > capacity / 4 ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

/* Copies `size` bytes of `rec` into the chosen ring; a full ring is counted, never silent.
 * Returns whether the record is in the ring. */
static __always_inline bool emit(const struct mv_jail *jail, __u32 ring, void *rec, __u64 size) {
  long err;
  ring &= 1;
  if (ring == MV_RING_HIGH)
    err = bpf_ringbuf_output(&rb_high, rec, size, wakeup_flag(bpf_ringbuf_query(&rb_high, BPF_RB_AVAIL_DATA), MV_RB_HIGH_SIZE));
  else
    err = bpf_ringbuf_output(&rb_bulk, rec, size, wakeup_flag(bpf_ringbuf_query(&rb_bulk, BPF_RB_AVAIL_DATA), MV_RB_BULK_SIZE));
  if (err) {
    __sync_fetch_and_add(&jail->watch->dropped[ring], 1);
    __u64 *global = bpf_map_lookup_elem(&ring_drops, &ring);
    if (global) __sync_fetch_and_add(global, 1);
    return false;
  }
  __sync_fetch_and_add(&jail->watch->emitted[ring], 1);
  return true;
}
