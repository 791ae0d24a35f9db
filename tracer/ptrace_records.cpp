#include "tracer/ptrace_records.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>

#include "trace/syscall_table.h"

#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452  // newer than Debian 12's headers
#endif

namespace modelvet::tracer {
namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kWriteFlags = O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND | __O_TMPFILE;

int ring_for_open_flags(uint64_t flags) { return (flags & kWriteFlags) ? MV_RING_HIGH : MV_RING_BULK; }

void read_str_slot(const TraceeMemory& mem, mv_syscall_rec* rec, int slot, uint64_t addr) {
  if (addr) rec->len[slot] = mem.read_str(addr, rec->str[slot], MV_PATH_LEN);
}

void read_bytes_slot(const TraceeMemory& mem, mv_syscall_rec* rec, int slot, uint64_t addr, uint64_t len) {
  if (!addr || len == 0) return;
  len = std::min<uint64_t>(len, MV_PATH_LEN);
  if (mem.read(addr, rec->str[slot], len)) rec->len[slot] = static_cast<int32_t>(len);
}

// SOCK_STREAM / SOCK_DGRAM / ... of the tracee's fd, 0 when it is not a socket.
uint32_t socket_type_of_fd(pid_t tgid, uint64_t fd) {
  return static_cast<uint32_t>(tracee_socket_option(tgid, fd, SO_TYPE));
}

std::optional<int> file_record(const TracedCall& c, const TraceeMemory& mem, mv_syscall_rec* rec) {
  const uint64_t* a = c.args;
  switch (c.nr) {
    case SYS_open: case SYS_openat: case SYS_openat2: case SYS_creat: {
      uint64_t path = c.nr == SYS_open || c.nr == SYS_creat ? a[0] : a[1];
      uint64_t flags = c.nr == SYS_open ? a[1] : c.nr == SYS_openat ? a[2] : O_CREAT | O_WRONLY | O_TRUNC;
      if (c.nr == SYS_openat2 && !mem.read(a[2], &flags, sizeof(flags))) flags = 0;  // open_how.flags
      rec->aux = static_cast<uint32_t>(flags);
      read_str_slot(mem, rec, 0, path);
      return ring_for_open_flags(flags);
    }
    case SYS_unlink: case SYS_rmdir: case SYS_mkdir: case SYS_chmod:
      read_str_slot(mem, rec, 0, a[0]);
      return MV_RING_HIGH;
    case SYS_unlinkat: case SYS_mkdirat: case SYS_fchmodat: case SYS_fchmodat2:
      read_str_slot(mem, rec, 0, a[1]);
      return MV_RING_HIGH;
    case SYS_rename: case SYS_link: case SYS_symlink:
      read_str_slot(mem, rec, 0, a[0]);
      read_str_slot(mem, rec, 1, a[1]);
      return MV_RING_HIGH;
    case SYS_renameat: case SYS_renameat2: case SYS_linkat:
      read_str_slot(mem, rec, 0, a[1]);
      read_str_slot(mem, rec, 1, a[3]);
      return MV_RING_HIGH;
    case SYS_symlinkat:
      read_str_slot(mem, rec, 0, a[0]);
      read_str_slot(mem, rec, 1, a[2]);
      return MV_RING_HIGH;
    case SYS_fchmod:
      return MV_RING_HIGH;
    case SYS_write: case SYS_pwrite64: case SYS_writev: case SYS_pwritev: case SYS_pwritev2:
      if (static_cast<int64_t>(a[0]) >= 3) return MV_RING_BULK;  // fds 0-2: the harness's pipes
      return std::nullopt;
    case SYS_close:
      if (static_cast<int64_t>(a[0]) >= 3 && c.ret == 0) return MV_RING_BULK;
      return std::nullopt;
    case SYS_dup2: case SYS_dup3:
      if (c.ret >= 0) return MV_RING_BULK;
      return std::nullopt;
    case SYS_mmap: case SYS_mprotect:
      if (a[2] & PROT_EXEC) return MV_RING_HIGH;
      return std::nullopt;
    case SYS_memfd_create:
      read_str_slot(mem, rec, 0, a[0]);
      return MV_RING_HIGH;
  }
  return std::nullopt;
}

std::optional<int> net_record(pid_t tgid, const TracedCall& c, const TraceeMemory& mem, mv_syscall_rec* rec) {
  const uint64_t* a = c.args;
  auto with_sockaddr = [&](uint64_t addr, uint64_t len) {
    rec->aux = socket_type_of_fd(tgid, a[0]);
    read_bytes_slot(mem, rec, 1, addr, len);
    return MV_RING_HIGH;
  };
  switch (c.nr) {
    case SYS_socket:
      return MV_RING_HIGH;
    case SYS_connect: case SYS_bind:
      return with_sockaddr(a[1], a[2]);
    case SYS_sendto:
      if (a[4]) return with_sockaddr(a[4], a[5]);
      return std::nullopt;
    case SYS_sendmsg: {
      msghdr msg{};
      if (mem.read(a[1], &msg, sizeof(msg)) && msg.msg_name)
        return with_sockaddr(reinterpret_cast<uint64_t>(msg.msg_name), msg.msg_namelen);
      return std::nullopt;
    }
    case SYS_listen:
      rec->aux = socket_type_of_fd(tgid, a[0]);
      return MV_RING_HIGH;
  }
  return std::nullopt;
}

// A row of trace/syscall_table.h, as attempts.bpf.h records it: strings from the named args.
std::optional<int> table_record(const TracedCall& c, const TraceeMemory& mem, mv_syscall_rec* rec, int family,
                                int str0, int str1) {
  if (family == MV_UNRECORDED) return std::nullopt;
  if (str0 != MV_NO_STR) read_str_slot(mem, rec, 0, c.args[str0]);
  if (str1 != MV_NO_STR) read_str_slot(mem, rec, 1, c.args[str1]);
  return MV_RING_HIGH;
}

std::optional<int> attempt_record(const TracedCall& c, const TraceeMemory& mem, mv_syscall_rec* rec) {
  switch (c.nr) {
#define MV_ATTEMPT_CASE(name, family, str0, str1, seccomp) \
  case SYS_##name:                                        \
    return table_record(c, mem, rec, family, str0, str1);
    MV_SYSCALL_TABLE(MV_ATTEMPT_CASE)
#undef MV_ATTEMPT_CASE
  }
  return std::nullopt;
}

}  // namespace

// A duplicate of the fd (pidfd_getfd, allowed to a tracer; called through syscall(): Debian
// 12's <sys/pidfd.h> lacks extern "C") answers getsockopt.
bool tracee_getsockopt(pid_t tgid, uint64_t fd, int option, void* value, socklen_t len) {
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, tgid, 0));
  if (pidfd < 0) return false;
  int dup = static_cast<int>(syscall(SYS_pidfd_getfd, pidfd, static_cast<int>(fd), 0));
  close(pidfd);
  if (dup < 0) return false;
  bool ok = getsockopt(dup, SOL_SOCKET, option, value, &len) == 0;
  close(dup);
  return ok;
}

uint16_t tracee_socket_port(pid_t tgid, uint64_t fd) {
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, tgid, 0));
  if (pidfd < 0) return 0;
  int dup = static_cast<int>(syscall(SYS_pidfd_getfd, pidfd, static_cast<int>(fd), 0));
  close(pidfd);
  if (dup < 0) return 0;
  sockaddr_storage sa{};
  socklen_t len = sizeof sa;
  uint16_t port = 0;
  if (getsockname(dup, reinterpret_cast<sockaddr*>(&sa), &len) == 0) {
    if (sa.ss_family == AF_INET) port = ntohs(reinterpret_cast<sockaddr_in*>(&sa)->sin_port);
    if (sa.ss_family == AF_INET6) port = ntohs(reinterpret_cast<sockaddr_in6*>(&sa)->sin6_port);
  }
  close(dup);
  return port;
}

int tracee_socket_option(pid_t tgid, uint64_t fd, int option) {
  int value = 0;
  return tracee_getsockopt(tgid, fd, option, &value, sizeof value) ? value : 0;
}

bool TraceeMemory::read(uint64_t addr, void* buf, size_t len) const {
  iovec local{buf, len}, remote{reinterpret_cast<void*>(addr), len};
  return process_vm_readv(tid_, &local, 1, &remote, 1, 0) == static_cast<ssize_t>(len);
}

int TraceeMemory::read_str(uint64_t addr, char* buf, size_t cap) const {
  size_t got = 0;
  while (got < cap) {
    size_t chunk = std::min<size_t>(cap - got, kPage - ((addr + got) % kPage));  // never across a page
    if (!read(addr + got, buf + got, chunk)) break;
    if (void* nul = memchr(buf + got, '\0', chunk)) return static_cast<int>(static_cast<char*>(nul) - buf + 1);
    got += chunk;
  }
  if (got == 0) return 0;
  buf[got == cap ? cap - 1 : got] = '\0';
  return static_cast<int>(got == cap ? cap : got + 1);
}

bool is_exec(uint64_t nr) { return nr == SYS_execve || nr == SYS_execveat; }

std::optional<int> build_syscall_record(pid_t tgid, const TracedCall& call, const TraceeMemory& mem, mv_syscall_rec* rec) {
  std::copy(std::begin(call.args), std::end(call.args), rec->args);
  rec->nr = static_cast<uint32_t>(call.nr);
  rec->ret = call.ret;
  rec->aux = 0;
  rec->len[0] = rec->len[1] = 0;
  if (auto ring = file_record(call, mem, rec)) return ring;
  if (auto ring = net_record(tgid, call, mem, rec)) return ring;
  return attempt_record(call, mem, rec);
}

void read_exec_call(const TracedCall& call, const TraceeMemory& mem, mv_exec_rec* rec) {
  bool at = call.nr == SYS_execveat;
  rec->dirfd = at ? static_cast<int32_t>(call.args[0]) : AT_FDCWD;
  rec->slotted = 1;
  rec->truncated = 0;
  rec->filename[0] = '\0';
  mem.read_str(at ? call.args[1] : call.args[0], rec->filename, MV_PATH_LEN);
  uint64_t argv = at ? call.args[2] : call.args[1];
  uint32_t argc = 0;
  for (int i = 0; i < MV_MAX_ARGS && argv; ++i) {
    uint64_t arg = 0;
    if (!mem.read(argv + i * sizeof(uint64_t), &arg, sizeof(arg)) || !arg) break;
    int n = mem.read_str(arg, &rec->args[i * MV_ARG_LEN], MV_ARG_LEN);
    if (n <= 0) break;
    if (n == MV_ARG_LEN) rec->truncated = 1;
    argc = i + 1;
  }
  rec->args_len = argc * MV_ARG_LEN;
}

void read_exec_image(pid_t pid, mv_exec_rec* rec) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  std::string block((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  rec->slotted = 0;
  rec->ret = 0;
  rec->truncated = block.size() > MV_ARGS_LEN - 1;
  rec->args_len = static_cast<uint32_t>(std::min<size_t>(block.size(), MV_ARGS_LEN - 1));
  memcpy(rec->args, block.data(), rec->args_len);
}

}  // namespace modelvet::tracer
