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
#define MV_MAX_INFLIGHT 65536

/* Jails being recorded: cgroup id -> redirect ports and per-jail counters. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, MV_MAX_JAILS);
  __type(key, __u64);
  __type(value, struct mv_watch);
} watched SEC(".maps") __weak;

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 16 * 1024 * 1024);
} rb_high SEC(".maps") __weak;

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 8 * 1024 * 1024);
} rb_bulk SEC(".maps") __weak;

/* The syscall each task of a jail is inside, written at sys_enter: sys_exit pairs with it to
 * report results, and a sys_exit without it is a syscall seccomp rejected before sys_enter. */
struct inflight_syscall {
  __u64 args[6];
  __u64 nr;
};

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, MV_MAX_INFLIGHT);
  __type(key, __u32);
  __type(value, struct inflight_syscall);
} inflight SEC(".maps") __weak;

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

/* Copies `size` bytes of `rec` into the chosen ring; a full ring is counted, never silent. */
static __always_inline void emit(const struct mv_jail *jail, __u32 ring, void *rec, __u64 size) {
  long err;
  ring &= 1;
  if (ring == MV_RING_HIGH)
    err = bpf_ringbuf_output(&rb_high, rec, size, 0);
  else
    err = bpf_ringbuf_output(&rb_bulk, rec, size, 0);
  if (err) {
    __sync_fetch_and_add(&jail->watch->dropped[ring], 1);
    __u64 *global = bpf_map_lookup_elem(&ring_drops, &ring);
    if (global) __sync_fetch_and_add(global, 1);
  } else {
    __sync_fetch_and_add(&jail->watch->emitted[ring], 1);
  }
}
