#include "tracer/ptrace_loop.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <netinet/in.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include <cstring>
#include <fstream>
#include <optional>
#include <unordered_map>

#include <fmt/format.h>

#include "tracer/ptrace_records.h"
#include "tracer/ptrace_steer.h"
#include "tracer/record_decoder.h"
#include "tracer/seccomp_eval.h"

namespace modelvet::tracer {
namespace {

constexpr long kOptions = PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE |
                          PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL;
constexpr int kSyscallStop = SIGTRAP | 0x80;

uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
}

// "Tgid:" or "PPid:" of /proc/<tid>/status; 0 when the task is gone.
pid_t status_field(pid_t tid, const char* field) {
  std::ifstream in(fmt::format("/proc/{}/status", tid));
  std::string key;
  pid_t value = 0;
  while (in >> key) {
    if (key == field) {
      in >> value;
      return value;
    }
    in.ignore(4096, '\n');
  }
  return 0;
}

std::string comm_of(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/comm", pid));
  std::string comm;
  std::getline(in, comm);
  return comm;
}

// bprm->filename: the path as passed, or /dev/fd/N[/path] for execveat relative to a dirfd.
std::string exec_image_name(const char* passed, int dirfd) {
  if (dirfd == AT_FDCWD || passed[0] == '/') return passed;
  if (passed[0] == '\0') return fmt::format("/dev/fd/{}", dirfd);
  return fmt::format("/dev/fd/{}/{}", dirfd, passed);
}

bool is_denial(int64_t ret) { return ret == -EPERM || ret == -EACCES; }

}  // namespace

struct PtraceLoop::State {
  struct Thread {
    pid_t tgid = 0;
    TracedCall call;                     // the syscall it is in (from its entry stop)
    std::unique_ptr<mv_exec_rec> exec;   // filename + argv of a pending execve
    std::optional<mv_redirect_rec> datagram;  // a steered UDP send, completed at its exit stop
  };
  std::unordered_map<pid_t, Thread> threads;
  const Sink* sink = nullptr;
  uint64_t stops = 0;
  RedirectTarget steer;

  Thread& thread(pid_t tid) {
    auto it = threads.find(tid);
    if (it != threads.end()) return it->second;
    Thread& t = threads[tid];
    t.tgid = status_field(tid, "Tgid:");
    if (t.tgid == 0) t.tgid = tid;
    return t;
  }

  void fill_header(mv_header* h, uint32_t type, pid_t tid, const Thread& t, uint64_t now) {
    h->t_ns = now;
    h->cgroup_id = 0;
    h->type = type;
    h->pid = static_cast<uint32_t>(t.tgid);
    h->tid = static_cast<uint32_t>(tid);
    h->ppid = 0;
    h->comm[0] = '\0';
  }

  // Through the same decoder as the eBPF rings: identical kinds and fields.
  void emit(const void* rec, size_t size, int ring) {
    if (auto decoded = decode_record(rec, size)) (*sink)(std::move(decoded->event), ring);
  }

  void on_syscall_stop(pid_t tid, uint64_t now) {
    __ptrace_syscall_info info{};
    if (ptrace(PTRACE_GET_SYSCALL_INFO, tid, sizeof(info), &info) <= 0) return;
    Thread& t = thread(tid);
    if (info.op == PTRACE_SYSCALL_INFO_ENTRY) {
      t.call = TracedCall{};
      t.call.nr = info.entry.nr;
      for (int i = 0; i < 6; ++i) t.call.args[i] = info.entry.args[i];
      t.call.ip = info.instruction_pointer;
      t.call.arch = info.arch;
      if (is_exec(t.call.nr)) {
        t.exec = std::make_unique<mv_exec_rec>();
        read_exec_call(t.call, TraceeMemory(tid), t.exec.get());
      }
      if (auto redirect = steer_destination(tid, t.tgid, t.call, steer)) {
        fill_header(&redirect->h, MV_REC_NET_REDIRECT, tid, t, now);
        // The kernel binds an unbound datagram socket inside the call: its port (which names
        // the socket to the fake network, as the eBPF hook's does) is known at the exit stop.
        if (redirect->protocol == IPPROTO_UDP && t.call.nr != __NR_connect) t.datagram = *redirect;
        else emit(&*redirect, sizeof(*redirect), MV_RING_HIGH);
      }
      return;
    }
    if (info.op != PTRACE_SYSCALL_INFO_EXIT) return;
    t.call.ret = info.exit.rval;
    if (t.datagram) {
      t.datagram->src_port = tracee_socket_port(t.tgid, t.call.args[0]);
      emit(&*t.datagram, sizeof(*t.datagram), MV_RING_HIGH);
      t.datagram.reset();
    }
    TraceeMemory mem(tid);
    // Entry stops come before seccomp: the tracee's own filters tell a refusal from a result.
    if (is_denial(t.call.ret) && seccomp_denies(seccomp_filters_of(tid), t.call)) {
      auto rec = std::make_unique<mv_syscall_rec>();
      fill_header(&rec->h, MV_REC_DENIED, tid, t, now);
      std::copy(std::begin(t.call.args), std::end(t.call.args), rec->args);
      rec->nr = static_cast<uint32_t>(t.call.nr);
      rec->ret = t.call.ret;
      emit(rec.get(), sizeof(*rec), MV_RING_HIGH);
      return;
    }
    if (is_exec(t.call.nr)) {  // a successful exec is recorded at its PTRACE_EVENT_EXEC
      if (t.call.ret < 0 && t.exec) {
        fill_header(&t.exec->h, MV_REC_EXEC, tid, t, now);
        t.exec->h.ppid = static_cast<uint32_t>(status_field(t.tgid, "PPid:"));
        strncpy(t.exec->h.comm, comm_of(t.tgid).c_str(), MV_COMM_LEN - 1);
        t.exec->ret = t.call.ret;
        emit(t.exec.get(), sizeof(*t.exec), MV_RING_HIGH);
      }
      t.exec.reset();
      return;
    }
    auto rec = std::make_unique<mv_syscall_rec>();
    if (auto ring = build_syscall_record(t.tgid, t.call, mem, rec.get())) {
      fill_header(&rec->h, MV_REC_SYSCALL, tid, t, now);
      emit(rec.get(), sizeof(*rec), *ring);
    }
  }

  // CLONE_THREAD in the flags of the clone (or clone3) the parent is in.
  static bool creates_thread(pid_t parent_tid, const TracedCall& call) {
    uint64_t flags = 0;
    if (call.nr == __NR_clone) flags = call.args[0];
    else if (call.nr == __NR_clone3 && !TraceeMemory(parent_tid).read(call.args[0], &flags, sizeof flags)) flags = 0;
    return (flags & CLONE_THREAD) != 0;
  }

  // fork, vfork, clone: processes get a fork record (threads do not, as with BPF).
  void on_new_task(pid_t parent_tid, uint64_t now) {
    unsigned long child = 0;
    if (ptrace(PTRACE_GETEVENTMSG, parent_tid, nullptr, &child) != 0) return;
    Thread& parent = thread(parent_tid);
    pid_t parent_tgid = parent.tgid;
    bool is_thread = creates_thread(parent_tid, parent.call);
    Thread& t = thread(static_cast<pid_t>(child));
    // /proc/<tid>/status of a brand-new task may not be readable yet: the clone's own flags say
    // whether it is a thread of its parent's process.
    if (is_thread) t.tgid = parent_tgid;
    if (t.tgid != static_cast<pid_t>(child)) return;
    mv_proc_rec rec{};
    fill_header(&rec.h, MV_REC_FORK, parent_tid, threads[parent_tid], now);
    rec.h.pid = static_cast<uint32_t>(parent_tgid);
    rec.h.ppid = static_cast<uint32_t>(status_field(parent_tgid, "PPid:"));
    rec.child_pid = static_cast<uint32_t>(child);
    emit(&rec, sizeof(rec), MV_RING_HIGH);
  }

  // A successful exec: filename as passed (kept from the entry stop), argv of the new image.
  void on_exec(pid_t tid, uint64_t now) {
    unsigned long former = tid;
    ptrace(PTRACE_GETEVENTMSG, tid, nullptr, &former);
    Thread& t = thread(tid);
    if (static_cast<pid_t>(former) != tid) {  // a non-leader thread exec'd and took the leader's tid
      auto it = threads.find(static_cast<pid_t>(former));
      if (it != threads.end()) {
        t.exec = std::move(it->second.exec);
        threads.erase(it);
      }
    }
    auto rec = std::move(t.exec);
    if (!rec) rec = std::make_unique<mv_exec_rec>();
    fill_header(&rec->h, MV_REC_EXEC, tid, t, now);
    rec->h.ppid = static_cast<uint32_t>(status_field(t.tgid, "PPid:"));
    strncpy(rec->h.comm, comm_of(t.tgid).c_str(), MV_COMM_LEN - 1);
    // The kernel's name for the program (bprm->filename), which the eBPF backend reports.
    std::string name = exec_image_name(rec->filename, rec->dirfd);
    strncpy(rec->filename, name.c_str(), MV_PATH_LEN - 1);
    rec->dirfd = -100;  // AT_FDCWD: the eBPF backend reads successful execs from the new image too
    read_exec_image(t.tgid, rec.get());
    emit(rec.get(), sizeof(*rec), MV_RING_HIGH);
  }

  // The end of a thread; a process ends with its leader (reported after its other threads).
  void on_gone(pid_t tid, int wait_status, uint64_t now) {
    auto it = threads.find(tid);
    if (it == threads.end()) return;
    // Killed inside its send: the steered datagram is still recorded, without its port.
    if (it->second.datagram) emit(&*it->second.datagram, sizeof(*it->second.datagram), MV_RING_HIGH);
    if (it->second.tgid == tid) {
      mv_proc_rec rec{};
      fill_header(&rec.h, MV_REC_EXIT, tid, it->second, now);
      rec.exit_code = wait_status;  // code << 8 | signal, as task->exit_code
      emit(&rec, sizeof(rec), MV_RING_HIGH);
    }
    threads.erase(it);
  }
};

PtraceLoop::PtraceLoop() : state_(std::make_unique<State>()) {}
PtraceLoop::~PtraceLoop() = default;

bool PtraceLoop::seize(pid_t root, std::string* error) {
  if (ptrace(PTRACE_SEIZE, root, nullptr, reinterpret_cast<void*>(kOptions)) != 0) {
    *error = fmt::format("PTRACE_SEIZE {}: {}", root, strerror(errno));
    return false;
  }
  // Syscall stops need the tracee in a ptrace-stop once: it reports PTRACE_EVENT_STOP.
  if (ptrace(PTRACE_INTERRUPT, root, nullptr, nullptr) != 0) {
    *error = fmt::format("PTRACE_INTERRUPT {}: {}", root, strerror(errno));
    return false;
  }
  state_->thread(root);
  return true;
}

void PtraceLoop::steer_to(const RedirectTarget& target) { state_->steer = target; }

uint64_t PtraceLoop::run(const Sink& sink) {
  State& s = *state_;
  s.sink = &sink;
  while (!s.threads.empty()) {
    int st = 0;
    pid_t tid = waitpid(-1, &st, __WALL);
    if (tid < 0) {
      if (errno == EINTR) continue;
      break;  // ECHILD: nothing is traced any more
    }
    uint64_t now = monotonic_ns();
    if (WIFEXITED(st) || WIFSIGNALED(st)) {
      s.on_gone(tid, st, now);
      continue;
    }
    if (!WIFSTOPPED(st)) continue;
    ++s.stops;
    int sig = WSTOPSIG(st), event = st >> 16, inject = 0;
    if (sig == kSyscallStop) s.on_syscall_stop(tid, now);
    else if (event == PTRACE_EVENT_FORK || event == PTRACE_EVENT_VFORK || event == PTRACE_EVENT_CLONE) s.on_new_task(tid, now);
    else if (event == PTRACE_EVENT_EXEC) s.on_exec(tid, now);
    else if (event == PTRACE_EVENT_STOP) s.thread(tid);  // first stop of a new tracee, or a group-stop: resumed
    else inject = sig;                                    // a signal for the tracee: delivered
    ptrace(PTRACE_SYSCALL, tid, nullptr, reinterpret_cast<void*>(static_cast<long>(inject)));
  }
  return s.stops;
}

}  // namespace modelvet::tracer
