/* File family: opens (with flags and result), path changes, write byte counts, executable
 * mappings. Paths are read at sys_exit: the caller's memory is still there and the result known. */
#pragma once
#include "tracer/syscall_rec.bpf.h"

#define MV_O_WRONLY 01
#define MV_O_RDWR 02
#define MV_O_CREAT 0100
#define MV_O_TRUNC 01000
#define MV_O_APPEND 02000
#define MV_O_TMPFILE 020000000
#define MV_PROT_EXEC 4
#define MV_MAP_ANONYMOUS 0x20

/* Opens that can change a file are high value; plain reads go to the bulk ring. */
static __always_inline __u32 ring_for_open_flags(__u64 flags) {
  return (flags & (MV_O_WRONLY | MV_O_RDWR | MV_O_CREAT | MV_O_TRUNC | MV_O_APPEND | MV_O_TMPFILE)) ? MV_RING_HIGH
                                                                                                 : MV_RING_BULK;
}

#define MV_MAX_FOLDS 65536

/* Key -> repeats not emitted. A plain (not LRU) hash: when it is full the open is emitted, so no
 * count is ever evicted, and a jail's counts sum to what it folded. Keys carry the jail's
 * cgroup id; finish() takes that jail's entries out. No timestamp per repeat: reading the
 * clock cost as much as the count. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, MV_MAX_FOLDS);
  __type(key, struct mv_fold_key);
  __type(value, __u64);
} folds SEC(".maps") __weak;

static __always_inline void forget_folded_fd(__s64 fd) {
  if (fd < 0 || fd >= MV_FOLDED_FDS) return;
  __u64 *slot = folded_fd_slot(process_folded_fds(false), fd);
  if (slot) *slot = 0;
}

/* 64-bit words of the string read into scratch; bytes past its NUL are stale and masked. */
static __always_inline __u64 hash_path(const char *s, __s32 len) {
  __u64 h = 0xcbf29ce484222325ULL;
  for (int i = 0; i < MV_PATH_LEN / 8; i++) {
    int off = i * 8;
    if (off >= len) break;
    __u64 w = *(const __u64 *)(s + off);
    int rem = len - off;
    if (rem < 8) w &= (1ULL << (rem * 8)) - 1;
    h = (h ^ w) * 0x100000001b3ULL;
    h ^= h >> 32;
  }
  return h ? h : 1; /* 0 means "no hash" in a record */
}

/* Only read-only opens of absolute paths fold: a relative path or openat2's resolve flags
 * could name another file with the same string. */
static __always_inline bool foldable_open(const struct mv_syscall_rec *rec, __u64 flags) {
  return rec->nr != __NR_openat2 && ring_for_open_flags(flags) == MV_RING_BULK && rec->len[0] > 1 && rec->str[0][0] == '/';
}

/* A repeat of an emitted key is counted, not emitted; its fd is remembered for close/mmap.
 * An fd beyond the table cannot be remembered: that open is emitted. */
static __always_inline bool fold_repeat(const struct mv_fold_key *key, long ret) {
  __u64 *c = bpf_map_lookup_elem(&folds, key);
  if (!c) return false;
  if (ret >= 0) {
    __u64 *slot = folded_fd_slot(process_folded_fds(true), ret);
    if (!slot) return false;
    *slot = key->path_hash;
  }
  __sync_fetch_and_add(c, 1);
  return true;
}

static __always_inline void record_open(const struct mv_jail *jail, const struct inflight_syscall *call, long ret) {
  __u32 zero = 0;
  union syscall_scratch_slot *slot = bpf_map_lookup_elem(&syscall_scratch, &zero);
  if (!slot) return;
  struct mv_syscall_rec *rec = &slot->rec;
  __u64 path = 0, flags = 0;
  switch (call->nr) {
    case __NR_open: path = call->args[0]; flags = call->args[1]; break;
    case __NR_creat: path = call->args[0]; flags = MV_O_CREAT | MV_O_WRONLY | MV_O_TRUNC; break;
    case __NR_openat: path = call->args[1]; flags = call->args[2]; break;
    case __NR_openat2: {
      path = call->args[1];
      bpf_probe_read_user(&flags, sizeof(flags), (const void *)call->args[2]); /* open_how.flags */
      break;
    }
  }
  /* path and key first: a repeat costs no header, no copy */
  rec->nr = call->nr;
  rec->len[0] = 0;
  rec->len[1] = 0;
  rec_read_str(rec, 0, path);
  struct mv_fold_key key = {};
  if (foldable_open(rec, flags)) {
    key.cgroup_id = jail->id;
    key.path_hash = hash_path(rec->str[0], rec->len[0]);
    key.tgid = bpf_get_current_pid_tgid() >> 32;
    key.nr = call->nr;
    key.flags = (__u32)flags;
    key.result = ret < 0 ? (__s32)ret : 0;
    if (fold_repeat(&key, ret)) return;
  }
  fill_syscall_rec(rec, jail, MV_REC_SYSCALL, call, ret);
  rec->aux = (__u32)flags;
  rec->path_hash = key.path_hash;
  bool sent = send_syscall_rec(jail, ring_for_open_flags(flags), rec);
  forget_folded_fd(ret); /* user space knows this fd now, whatever an earlier holder was */
  if (sent && key.path_hash) { /* repeats fold into an event that exists */
    __u64 none = 0;
    bpf_map_update_elem(&folds, &key, &none, BPF_NOEXIST);
  }
}

/* unlink, rename, mkdir, chmod: the path(s) of the call. */
static __always_inline void record_path_change(const struct mv_jail *jail, const struct inflight_syscall *call, long ret) {
  struct mv_syscall_rec *rec = new_syscall_rec(jail, MV_REC_SYSCALL, call, ret);
  if (!rec) return;
  __u64 first = 0, second = 0;
  switch (call->nr) {
    case __NR_unlink: case __NR_rmdir: case __NR_mkdir: case __NR_chmod: first = call->args[0]; break;
    case __NR_unlinkat: case __NR_mkdirat: case __NR_fchmodat: case __NR_fchmodat2: first = call->args[1]; break;
    case __NR_rename: case __NR_link: case __NR_symlink: first = call->args[0]; second = call->args[1]; break;
    case __NR_renameat: case __NR_renameat2: case __NR_linkat: first = call->args[1]; second = call->args[3]; break;
    case __NR_symlinkat: first = call->args[0]; second = call->args[2]; break;
  }
  rec_read_str(rec, 0, first);
  rec_read_str(rec, 1, second);
  send_syscall_rec(jail, MV_RING_HIGH, rec);
}

/* dup2/dup3: the new fd names what the old one named (a folded open's file, or one user space knows). */
static __always_inline void copy_folded_fd(__s64 old_fd, __s64 new_fd) {
  struct folded_fds *t = process_folded_fds(false);
  __u64 *to = folded_fd_slot(t, new_fd), *from = folded_fd_slot(t, old_fd);
  if (to) *to = from ? *from : 0;
}

/* Native code loading: an mmap of a folded open's fd carries that open's path hash. */
static __always_inline void record_exec_mapping(const struct mv_jail *jail, const struct inflight_syscall *call, long ret) {
  struct mv_syscall_rec *rec = new_syscall_rec(jail, MV_REC_SYSCALL, call, ret);
  if (!rec) return;
  if (call->nr == __NR_mmap && !(call->args[3] & MV_MAP_ANONYMOUS)) {
    __u64 *slot = folded_fd_slot(process_folded_fds(false), (__s32)call->args[4]);
    if (slot) rec->path_hash = *slot;
  }
  send_syscall_rec(jail, MV_RING_HIGH, rec);
}

static __always_inline bool handle_file_exit(const struct mv_jail *jail, const struct inflight_syscall *call, long ret) {
  switch (call->nr) {
    case __NR_open: case __NR_openat: case __NR_openat2: case __NR_creat:
      record_open(jail, call, ret);
      return true;
    case __NR_unlink: case __NR_unlinkat: case __NR_rmdir: case __NR_rename: case __NR_renameat:
    case __NR_renameat2: case __NR_mkdir: case __NR_mkdirat: case __NR_chmod: case __NR_fchmodat:
    case __NR_fchmodat2: case __NR_link: case __NR_linkat: case __NR_symlink: case __NR_symlinkat:
      record_path_change(jail, call, ret);
      return true;
    case __NR_fchmod:
      record_syscall(jail, MV_RING_HIGH, call, ret);
      return true;
    case __NR_write: case __NR_pwrite64: case __NR_writev: case __NR_pwritev: case __NR_pwritev2:
      /* byte counts only, never contents; fds 0-2 are the harness's own pipes */
      if ((__s64)call->args[0] >= 3) record_syscall(jail, MV_RING_BULK, call, ret);
      return true;
    case __NR_close:
      /* lets user space forget the fd's path, so a reused number is not misattributed; the fd
       * of a folded open was never learnt, so there is nothing to forget */
      if ((__s64)call->args[0] >= 3 && ret == 0) {
        __u64 *slot = folded_fd_slot(process_folded_fds(false), call->args[0]);
        if (slot && *slot) *slot = 0;
        else record_syscall(jail, MV_RING_BULK, call, ret);
      }
      return true;
    case __NR_dup2: case __NR_dup3:
      if (ret >= 0) {
        record_syscall(jail, MV_RING_BULK, call, ret);
        copy_folded_fd((__s32)call->args[0], ret);
      }
      return true;
    case __NR_mmap: case __NR_mprotect:
      if (call->args[2] & MV_PROT_EXEC) record_exec_mapping(jail, call, ret);
      return true;
    case __NR_memfd_create: {
      struct mv_syscall_rec *rec = new_syscall_rec(jail, MV_REC_SYSCALL, call, ret);
      if (!rec) return true;
      rec_read_str(rec, 0, call->args[0]);
      send_syscall_rec(jail, MV_RING_HIGH, rec);
      forget_folded_fd(ret);
      return true;
    }
  }
  return false;
}
