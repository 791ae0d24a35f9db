#pragma once
// The ptrace backend's half of the record format: a syscall seen at its entry and exit stops
// becomes the same ring record (tracer/trace_records.h) the BPF sys_exit dispatcher writes, so
// record_decoder.cpp turns both backends' records into identical events. Which calls are
// recorded, on which ring, with which strings, mirrors files.bpf.h, net.bpf.h and exec.bpf.h;
// attempts come from trace/syscall_table.h, as in attempts.bpf.h.
#include <sys/socket.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <optional>

#include "tracer/trace_records.h"

namespace modelvet::tracer {

// One syscall of one thread: filled at the entry stop, ret at the exit stop.
struct TracedCall {
  uint64_t nr = 0;
  uint64_t args[6] = {};
  uint64_t ip = 0;     // instruction pointer at entry (seccomp_data.instruction_pointer)
  uint32_t arch = 0;   // AUDIT_ARCH_* of the call
  int64_t ret = 0;
};

// Reads a stopped tracee's memory (process_vm_readv, page by page so that a string ending
// just before an unmapped page is still read).
class TraceeMemory {
 public:
  explicit TraceeMemory(pid_t tid) : tid_(tid) {}
  bool read(uint64_t addr, void* buf, size_t len) const;
  // A NUL-terminated string into buf (at most cap bytes, NUL included); its length with the
  // NUL, like bpf_probe_read_user_str, or 0 when unreadable.
  int read_str(uint64_t addr, char* buf, size_t cap) const;

 private:
  pid_t tid_;
};

// Fills `rec` (header excepted) for a completed syscall the eBPF backend would record, and
// returns its ring (MV_RING_HIGH / MV_RING_BULK); nullopt when the call is not recorded.
std::optional<int> build_syscall_record(pid_t tgid, const TracedCall& call, const TraceeMemory& mem, mv_syscall_rec* rec);

// execve/execveat at entry: filename and argv in MV_ARG_LEN slots, read from the caller's
// memory (gone after a successful exec). `rec` keeps them until the exec succeeds or fails.
void read_exec_call(const TracedCall& call, const TraceeMemory& mem, mv_exec_rec* rec);
// After a successful exec: argv of the new image from /proc/<pid>/cmdline, back to back.
void read_exec_image(pid_t pid, mv_exec_rec* rec);

bool is_exec(uint64_t nr);

// getsockopt(SOL_SOCKET, option) on fd of process tgid, a tracee; 0 when fd is not a socket.
int tracee_socket_option(pid_t tgid, uint64_t fd, int option);
// The port the tracee's socket `fd` is bound to (0: unbound, or not an inet socket).
uint16_t tracee_socket_port(pid_t tgid, uint64_t fd);
// The same for an option of any size (SO_COOKIE is 64-bit); false when it cannot be read.
bool tracee_getsockopt(pid_t tgid, uint64_t fd, int option, void* value, socklen_t len);

}  // namespace modelvet::tracer
