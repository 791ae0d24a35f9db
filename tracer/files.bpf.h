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

/* Opens that can change a file are high value; plain reads go to the bulk ring. */
static __always_inline __u32 ring_for_open_flags(__u64 flags) {
  return (flags & (MV_O_WRONLY | MV_O_RDWR | MV_O_CREAT | MV_O_TRUNC | MV_O_APPEND | MV_O_TMPFILE)) ? MV_RING_HIGH
                                                                                                 : MV_RING_BULK;
}

static __always_inline void record_open(const struct mv_jail *jail, const struct inflight_syscall *call, long ret) {
  struct mv_syscall_rec *rec = new_syscall_rec(jail, MV_REC_SYSCALL, call, ret);
  if (!rec) return;
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
  rec->aux = (__u32)flags;
  rec_read_str(rec, 0, path);
  send_syscall_rec(jail, ring_for_open_flags(flags), rec);
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
      /* lets user space forget the fd's path, so a reused number is not misattributed */
      if ((__s64)call->args[0] >= 3 && ret == 0) record_syscall(jail, MV_RING_BULK, call, ret);
      return true;
    case __NR_dup2: case __NR_dup3:
      if (ret >= 0) record_syscall(jail, MV_RING_BULK, call, ret);
      return true;
    case __NR_mmap: case __NR_mprotect:
      if (call->args[2] & MV_PROT_EXEC) record_syscall(jail, MV_RING_HIGH, call, ret);
      return true;
    case __NR_memfd_create: {
      struct mv_syscall_rec *rec = new_syscall_rec(jail, MV_REC_SYSCALL, call, ret);
      if (!rec) return true;
      rec_read_str(rec, 0, call->args[0]);
      send_syscall_rec(jail, MV_RING_HIGH, rec);
      return true;
    }
  }
  return false;
}
