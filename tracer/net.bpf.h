/* Network family at the syscall level: socket, connect, bind, listen, sendto/sendmsg with a
 * destination. The raw sockaddr goes to user space (str[1]); the socket type is read from the fd. */
#pragma once
#include "tracer/syscall_rec.bpf.h"

#define MV_S_IFMT 00170000
#define MV_S_IFSOCK 0140000

/* SOCK_STREAM / SOCK_DGRAM / ... of the socket behind fd, 0 when fd is not a socket. */
static __always_inline __u32 socket_type_of_fd(__u64 fd) {
  struct task_struct *task = (struct task_struct *)bpf_get_current_task();
  struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
  unsigned int max_fds = BPF_CORE_READ(fdt, max_fds);
  if (fd >= max_fds) return 0;
  struct file **fds = BPF_CORE_READ(fdt, fd);
  struct file *file = NULL;
  if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file) return 0;
  umode_t mode = BPF_CORE_READ(file, f_inode, i_mode);
  if ((mode & MV_S_IFMT) != MV_S_IFSOCK) return 0;
  struct socket *sock = BPF_CORE_READ(file, private_data);
  return BPF_CORE_READ(sock, type);
}

static __always_inline void record_sockaddr_call(const struct mv_jail *jail, const struct inflight_syscall *call,
                                                 long ret, __u64 addr, __u64 addrlen) {
  struct mv_syscall_rec *rec = new_syscall_rec(jail, MV_REC_SYSCALL, call, ret);
  if (!rec) return;
  rec->aux = socket_type_of_fd(call->args[0]);
  rec_read_bytes(rec, 1, addr, addrlen);
  send_syscall_rec(jail, MV_RING_HIGH, rec);
}

static __always_inline bool handle_net_exit(const struct mv_jail *jail, const struct inflight_syscall *call, long ret) {
  switch (call->nr) {
    case __NR_socket:
      record_syscall(jail, MV_RING_HIGH, call, ret);
      return true;
    case __NR_connect: case __NR_bind:
      record_sockaddr_call(jail, call, ret, call->args[1], call->args[2]);
      return true;
    case __NR_sendto:
      if (call->args[4]) record_sockaddr_call(jail, call, ret, call->args[4], call->args[5]);
      return true;
    case __NR_sendmsg: {
      struct user_msghdr msg = {};
      if (bpf_probe_read_user(&msg, sizeof(msg), (const void *)call->args[1]) == 0 && msg.msg_name)
        record_sockaddr_call(jail, call, ret, (__u64)msg.msg_name, msg.msg_namelen);
      return true;
    }
    case __NR_listen: {
      struct mv_syscall_rec *rec = new_syscall_rec(jail, MV_REC_SYSCALL, call, ret);
      if (!rec) return true;
      rec->aux = socket_type_of_fd(call->args[0]);
      send_syscall_rec(jail, MV_RING_HIGH, rec);
      return true;
    }
  }
  return false;
}
