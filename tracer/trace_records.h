/* The records the BPF programs write into the ring buffers, shared by the kernel side
 * (*.bpf.c, which includes vmlinux.h first) and the user side (record_decoder.cpp).
 * Plain C, fixed layout: the user side reads them byte for byte. */
#pragma once

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define MV_PATH_LEN 512     /* bytes kept of a path, name or raw sockaddr */
#define MV_ARG_LEN 256      /* bytes kept of one argv entry */
#define MV_MAX_ARGS 32      /* argv entries kept */
#define MV_COMM_LEN 16

/* Two ring buffers so that a flood of cheap events can never starve the ones that decide. */
enum mv_ring {
  MV_RING_HIGH = 0, /* exec, fork/exit, network, writes/creates, deletes, denied, attempts... */
  MV_RING_BULK = 1, /* read-only opens, write byte counts, closes */
  MV_RING_COUNT = 2,
};

enum mv_record_type {
  MV_REC_EXEC = 1,     /* an exec: the new image (sched_process_exec) or a failed execve (sys_exit) */
  MV_REC_FORK,         /* a new process, not a thread (mv_proc_rec) */
  MV_REC_EXIT,         /* a process's main thread exits (mv_proc_rec) */
  MV_REC_SYSCALL,      /* a traced syscall at sys_exit: nr, args, ret, up to two strings */
  MV_REC_DENIED,       /* a sys_exit with no sys_enter: rejected by seccomp before tracing */
  MV_REC_NET_REDIRECT, /* a cgroup sock_addr hook saw (and maybe rewrote) a destination */
};

struct mv_header {
  __u64 t_ns;       /* bpf_ktime_get_ns (CLOCK_MONOTONIC) */
  __u64 cgroup_id;  /* the watched jail's cgroup id the task belongs to */
  __u32 type;       /* enum mv_record_type */
  __u32 pid;        /* host tgid */
  __u32 tid;
  __u32 ppid;       /* tgid of the real parent */
  char comm[MV_COMM_LEN];
};

#define MV_ARGS_LEN (MV_MAX_ARGS * MV_ARG_LEN)

/* Successful execs are read at sched_process_exec, from the new image (its argv block was just
 * written by the kernel, so it is resident; the caller's memory may not be, and page faults
 * cannot be taken in a tracepoint). Failed ones at sys_exit, from the caller's memory, which
 * the kernel has just read. */
struct mv_exec_rec {
  struct mv_header h;
  __s64 ret;        /* 0 for the new image, -errno for a failed execve */
  __u32 args_len;   /* bytes valid in args: NUL-separated argv strings */
  __u32 truncated;  /* argv did not fit in MV_ARGS_LEN */
  __s32 dirfd;      /* execveat's dirfd, AT_FDCWD otherwise */
  __u32 slotted;    /* args holds argv[i] at i * MV_ARG_LEN instead of back to back */
  char filename[MV_PATH_LEN];
  char args[MV_ARGS_LEN];
};

struct mv_proc_rec {
  struct mv_header h;
  __u32 child_pid;  /* fork: the new process */
  __s32 exit_code;  /* exit: the raw wait status (code << 8 | signal) */
};

/* Written only up to the end of the last string present (the ring carries the exact size). */
struct mv_syscall_rec {
  struct mv_header h;
  __u64 args[6];
  __s64 ret;
  __u32 nr;
  __u32 aux;          /* syscall specific: socket type of the fd, openat2 flags... */
  __s32 len[2];       /* bytes valid in str[i], terminating NUL included; 0 = absent */
  __u64 path_hash;    /* foldable open: hash of its path; mmap: that of the fd's folded open; else 0 */
  char str[2][MV_PATH_LEN];  /* paths, names, or a raw struct sockaddr */
};

/* Repeat aggregation: a read-only open with an absolute path whose key was already emitted is
 * counted in the `folds` map (key -> count) instead of being emitted again; user space reads
 * the counts at finish. */
struct mv_fold_key {
  __u64 cgroup_id;
  __u64 path_hash;
  __u32 tgid;
  __u32 nr;
  __u32 flags;
  __s32 result;       /* 0 for any fd, else -errno */
};

enum mv_redirect_hook { MV_HOOK_CONNECT4 = 1, MV_HOOK_CONNECT6, MV_HOOK_SENDMSG4, MV_HOOK_SENDMSG6 };

struct mv_redirect_rec {
  struct mv_header h;
  __u32 hook;         /* enum mv_redirect_hook */
  __u32 family;       /* AF_INET / AF_INET6 */
  __u32 protocol;     /* IPPROTO_TCP / IPPROTO_UDP */
  __u32 orig_ip4;     /* network order */
  __u32 orig_ip6[4];  /* network order */
  __u16 orig_port;    /* host order */
  __u16 new_port;     /* host order, 0 when not redirected */
  __u32 redirected;
  __u16 src_port;     /* host order: the socket's bound port when the hook ran (UDP sendmsg), else 0 */
  __u16 pad;
  __u64 sock_cookie;  /* the socket's cookie (SO_COOKIE): the fake network's sessions name it too */
};

/* Per watched cgroup (key: cgroup id): where to steer traffic, and what happened to its events. */
struct mv_watch {
  __u64 emitted[MV_RING_COUNT];  /* records that reached the ring */
  __u64 dropped[MV_RING_COUNT];  /* records lost: the ring was full */
  __u16 tcp_port;                /* 0 = do not rewrite TCP destinations */
  __u16 udp_port;                /* 0 = do not rewrite UDP destinations */
  __u32 pad;
};
