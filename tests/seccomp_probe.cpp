// Runs inside a jail (tests/test_sandbox_seccomp_jail.cpp): tries every syscall the jail's
// seccomp filter denies, each in a child process of its own, with arguments chosen so that
// without the filter the call either succeeds or fails for a reason other than permission
// (checked in a jail without the filter), then the calls the tracer relies on (exec, connect,
// fork, threads, openat). One JSON line per attempt on stdout:
//   {"syscall": "bpf", "attempt": "BPF_MAP_CREATE array", "ret": 3, "errno": 0, "signal": 0}
// ret is the raw return (-1 on failure), errno the error, signal what killed the child.
//
// Defanged: every attempt is harmless even where it succeeds (it acts on the probe's own
// process, keyring or a fresh namespace, or names a path that does not exist), and the probe
// refuses to run at all when it holds any capability.
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/filter.h>
#include <linux/io_uring.h>
#include <linux/kcmp.h>
#include <linux/perf_event.h>
#include <linux/reboot.h>
#include <linux/sched.h>  // struct clone_args
#include <linux/userfaultfd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timex.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <functional>
#include <string>

extern char** environ;

namespace {

// Constants whose headers clash with glibc's (sys/mount.h vs linux/mount.h, keyutils).
constexpr long kKeySpecProcessKeyring = -2;
constexpr long kKeySpecSessionKeyring = -3;
constexpr long kKeyctlGetKeyringId = 0;
constexpr unsigned kFanClassNotif = 0x0, kFanReportFid = 0x200;
constexpr int kQcmdSyncUser = (0x800001 << 8) | 0;  // QCMD(Q_SYNC, USRQUOTA)
constexpr int kSyslogSizeBuffer = 10;
constexpr unsigned kOpenTreeCloexec = O_CLOEXEC;

struct Result {
  long ret = 0;
  int err = 0;
};

Result sys(long ret) { return {ret, ret == -1 ? errno : 0}; }

// JSON string of plain ASCII labels.
std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) out += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
  return out + "\"";
}

// Runs `call` in a child of its own (a successful unshare or a fresh keyring stays there) and
// prints its line. The child reports through a pipe; a child killed by a signal reports nothing.
void attempt(const char* syscall_name, const char* what, const std::function<Result()>& call) {
  int p[2];
  if (pipe(p) != 0) return;
  fflush(stdout);
  pid_t child = fork();
  if (child == 0) {
    close(p[0]);
    Result r = call();
    (void)!write(p[1], &r, sizeof r);
    _exit(0);
  }
  close(p[1]);
  Result r{};
  bool reported = read(p[0], &r, sizeof r) == sizeof r;
  close(p[0]);
  int status = 0;
  waitpid(child, &status, 0);
  int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  if (!reported) r = {-1, 0};
  printf("{\"syscall\": %s, \"attempt\": %s, \"ret\": %ld, \"errno\": %d, \"signal\": %d}\n", quoted(syscall_name).c_str(),
         quoted(what).c_str(), r.ret, r.err, sig);
}

// A fork-like raw clone: the child exits at once, the parent reaps it.
Result raw_clone(unsigned long flags) {
  long pid = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
  if (pid == 0) syscall(SYS_exit_group, 0);
  Result r = sys(pid);
  if (pid > 0) waitpid(pid_t(pid), nullptr, 0);
  return r;
}

bool holds_no_capability() {
  FILE* f = fopen("/proc/self/status", "re");
  if (!f) return false;
  char line[256];
  bool none = false;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "CapEff:", 7) == 0) none = strtoull(line + 7, nullptr, 16) == 0;
  fclose(f);
  return none;
}

// The fake network's TCP listener in the jail's netns (a dual-stack socket on [::]): the first
// LISTEN socket in /proc/net/tcp6 or /proc/net/tcp.
int fake_tcp_port() {
  int port = -1;
  for (const char* table : {"/proc/self/net/tcp6", "/proc/self/net/tcp"}) {
    FILE* f = fopen(table, "re");
    if (!f) continue;
    char line[512];
    while (port < 0 && fgets(line, sizeof line, f)) {
      unsigned p, state;
      if (sscanf(line, " %*d: %*[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x", &p, &state) == 2 && state == 0x0a) port = int(p);
    }
    fclose(f);
  }
  return port;
}

void* thread_body(void*) { return nullptr; }

long bpf(int cmd, bpf_attr* attr, unsigned size) { return syscall(SYS_bpf, cmd, attr, size); }

// Through the i386 entry (int $0x80): a filter that checked only x86_64 numbers would let it by.
long int80(long nr, long a, long b, long c) {
  long ret;
  asm volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
  return ret;
}

void denied_calls() {
  attempt("bpf", "BPF_MAP_CREATE array map", [] {
    bpf_attr a{};
    a.map_type = BPF_MAP_TYPE_ARRAY, a.key_size = 4, a.value_size = 4, a.max_entries = 1;
    return sys(bpf(BPF_MAP_CREATE, &a, sizeof a));
  });
  attempt("bpf", "BPF_PROG_LOAD socket filter", [] {
    bpf_insn prog[] = {{BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0}, {BPF_JMP | BPF_EXIT, 0, 0, 0, 0}};  // r0 = 0; exit
    bpf_attr a{};
    a.prog_type = BPF_PROG_TYPE_SOCKET_FILTER, a.insn_cnt = 2, a.insns = (uint64_t)prog, a.license = (uint64_t) "GPL";
    return sys(bpf(BPF_PROG_LOAD, &a, sizeof a));
  });
  attempt("bpf", "attr with a non-zero tail", [] {
    char buf[sizeof(bpf_attr) + 8] = {};
    buf[sizeof(bpf_attr)] = 1;  // checked before any permission: E2BIG
    return sys(bpf(BPF_MAP_CREATE, reinterpret_cast<bpf_attr*>(buf), sizeof buf));
  });
  attempt("perf_event_open", "task clock of itself, user space only", [] {
    perf_event_attr a{};
    a.type = PERF_TYPE_SOFTWARE, a.size = sizeof a, a.config = PERF_COUNT_SW_TASK_CLOCK;
    a.exclude_kernel = 1, a.exclude_hv = 1;
    return sys(syscall(SYS_perf_event_open, &a, 0, -1, -1, 0));
  });
  attempt("ptrace", "PTRACE_ATTACH to its own sleeping child", [] {
    pid_t sleeper = fork();
    if (sleeper == 0) {
      alarm(10);
      pause();
      _exit(0);
    }
    Result r = sys(syscall(SYS_ptrace, 16 /* PTRACE_ATTACH */, sleeper, 0, 0));
    kill(sleeper, SIGKILL);
    waitpid(sleeper, nullptr, 0);
    return r;
  });
  attempt("ptrace", "PTRACE_TRACEME in a child, stopped, then PTRACE_CONT by its parent", [] {
    int p[2];
    if (pipe(p) != 0) return Result{-1, errno};
    pid_t tracee = fork();
    if (tracee == 0) {
      Result r = sys(syscall(SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, 0, 0));
      (void)!write(p[1], &r, sizeof r);
      raise(SIGUSR1);  // traced: a stop its parent sees; untraced it would end here
      _exit(0);
    }
    close(p[1]);
    Result traceme{-1, EIO};
    (void)!read(p[0], &traceme, sizeof traceme);
    close(p[0]);
    int status = 0;
    waitpid(tracee, &status, 0);
    Result cont = WIFSTOPPED(status) ? sys(syscall(SYS_ptrace, 7 /* PTRACE_CONT */, tracee, 0, 0)) : Result{-1, ESRCH};
    waitpid(tracee, &status, 0);
    if (traceme.ret != 0) return traceme;
    if (cont.ret != 0) return cont;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? Result{0, 0} : Result{-1, ECHILD};
  });
  attempt("process_vm_readv", "its own memory", [] {
    char src[8] = "modelvt", dst[8] = {};
    iovec local{dst, sizeof dst}, remote{src, sizeof src};
    return sys(syscall(SYS_process_vm_readv, getpid(), &local, 1, &remote, 1, 0));
  });
  attempt("process_vm_writev", "its own memory", [] {
    char src[8] = "modelvt", dst[8] = {};
    iovec local{src, sizeof src}, remote{dst, sizeof dst};
    return sys(syscall(SYS_process_vm_writev, getpid(), &local, 1, &remote, 1, 0));
  });
  attempt("kcmp", "KCMP_FILE of its own fd 0", [] { return sys(syscall(SYS_kcmp, getpid(), getpid(), KCMP_FILE, 0, 0)); });
  attempt("mount", "tmpfs on a missing target (the target is looked up first)", [] {
    return sys(syscall(SYS_mount, "none", "/modelvet-no-such-dir", "tmpfs", 0, nullptr));
  });
  attempt("umount2", "a missing path", [] { return sys(syscall(SYS_umount2, "/modelvet-no-such-dir", 0)); });
  attempt("pivot_root", "missing paths", [] { return sys(syscall(SYS_pivot_root, "/modelvet-no-such-dir", "/modelvet-no-such-dir")); });
  attempt("chroot", "a missing path", [] { return sys(syscall(SYS_chroot, "/modelvet-no-such-dir")); });
  attempt("unshare", "CLONE_NEWUSER", [] { return sys(syscall(SYS_unshare, CLONE_NEWUSER)); });
  attempt("unshare", "CLONE_FILES", [] { return sys(syscall(SYS_unshare, CLONE_FILES)); });
  attempt("setns", "its own netns with the wrong type", [] {
    int fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    return sys(syscall(SYS_setns, fd, CLONE_NEWUTS));
  });
  attempt("move_mount", "bad descriptors", [] { return sys(syscall(SYS_move_mount, -1, "", -1, "", 0)); });
  attempt("open_tree", "/tmp without OPEN_TREE_CLONE (an O_PATH open)", [] {
    return sys(syscall(SYS_open_tree, AT_FDCWD, "/tmp", kOpenTreeCloexec));
  });
  attempt("fsopen", "a filesystem that does not exist", [] { return sys(syscall(SYS_fsopen, "modelvetfs", 0)); });
  attempt("fsconfig", "a descriptor that is no fs context", [] {
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    return sys(syscall(SYS_fsconfig, fd, 0 /* FSCONFIG_SET_FLAG */, "ro", nullptr, 0));
  });
  attempt("fsmount", "a bad descriptor", [] { return sys(syscall(SYS_fsmount, -1, 0, 0)); });
  attempt("fspick", "a missing path", [] { return sys(syscall(SYS_fspick, AT_FDCWD, "/modelvet-no-such-dir", 0)); });
  attempt("mount_setattr", "a size below the first version", [] {
    return sys(syscall(SYS_mount_setattr, AT_FDCWD, "/tmp", 0, nullptr, 0));
  });
  attempt("kexec_load", "unknown flags", [] { return sys(syscall(SYS_kexec_load, 0, 0, nullptr, 0x80)); });
  attempt("kexec_file_load", "unknown flags", [] { return sys(syscall(SYS_kexec_file_load, -1, -1, 0, nullptr, 0x80)); });
  attempt("init_module", "an empty image", [] { return sys(syscall(SYS_init_module, nullptr, 0, "")); });
  attempt("finit_module", "a bad descriptor", [] { return sys(syscall(SYS_finit_module, -1, "", 0)); });
  attempt("delete_module", "a module that is not loaded", [] {
    return sys(syscall(SYS_delete_module, "modelvet_no_such_module", O_NONBLOCK));
  });
  attempt("reboot", "a bad magic number", [] { return sys(syscall(SYS_reboot, 0, 0, LINUX_REBOOT_CMD_CAD_OFF, nullptr)); });
  attempt("swapon", "a missing file", [] { return sys(syscall(SYS_swapon, "/modelvet-no-such-file", 0)); });
  attempt("swapoff", "a missing file", [] { return sys(syscall(SYS_swapoff, "/modelvet-no-such-file")); });
  attempt("syslog", "SYSLOG_ACTION_SIZE_BUFFER", [] { return sys(syscall(SYS_syslog, kSyslogSizeBuffer, nullptr, 0)); });
  attempt("acct", "a missing file", [] { return sys(syscall(SYS_acct, "/modelvet-no-such-file")); });
  attempt("quotactl", "Q_SYNC of every filesystem", [] { return sys(syscall(SYS_quotactl, kQcmdSyncUser, nullptr, 0, nullptr)); });
  attempt("settimeofday", "an invalid time (checked before the capability)", [] {
    timeval tv{0, 2000000};
    return sys(syscall(SYS_settimeofday, &tv, nullptr));
  });
  attempt("clock_settime", "CLOCK_MONOTONIC (cannot be set)", [] {
    timespec ts{1, 0};
    return sys(syscall(SYS_clock_settime, CLOCK_MONOTONIC, &ts));
  });
  attempt("clock_adjtime", "CLOCK_REALTIME, read only (modes 0)", [] {
    timex tx{};
    return sys(syscall(SYS_clock_adjtime, CLOCK_REALTIME, &tx));
  });
  attempt("adjtimex", "read only (modes 0)", [] {
    timex tx{};
    return sys(syscall(SYS_adjtimex, &tx));
  });
  attempt("iopl", "level 0 (no change)", [] { return sys(syscall(SYS_iopl, 0)); });
  attempt("ioperm", "turn port 0 off (no change)", [] { return sys(syscall(SYS_ioperm, 0, 1, 0)); });
  attempt("vhangup", "no arguments", [] { return sys(syscall(SYS_vhangup)); });
  attempt("keyctl", "KEYCTL_GET_KEYRING_ID of its session keyring", [] {
    return sys(syscall(SYS_keyctl, kKeyctlGetKeyringId, kKeySpecSessionKeyring, 0));
  });
  attempt("add_key", "a user key in its process keyring", [] {
    return sys(syscall(SYS_add_key, "user", "modelvet-probe", "x", 1, kKeySpecProcessKeyring));
  });
  attempt("request_key", "a user key that does not exist, no upcall", [] {
    return sys(syscall(SYS_request_key, "user", "modelvet-no-such-key", nullptr, 0));
  });
  attempt("userfaultfd", "UFFD_USER_MODE_ONLY", [] { return sys(syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY)); });
  attempt("io_uring_setup", "8 entries, valid params", [] {
    io_uring_params p{};
    return sys(syscall(SYS_io_uring_setup, 8, &p));
  });
  // A ring where one can be made (without the filter), else fd -1: with the filter the answer
  // is EPERM whatever the descriptor.
  auto ring = [] {
    io_uring_params p{};
    return int(syscall(SYS_io_uring_setup, 8, &p));
  };
  attempt("io_uring_enter", "on a ring, nothing to submit", [ring] { return sys(syscall(SYS_io_uring_enter, ring(), 0, 0, 0, nullptr, 0)); });
  attempt("io_uring_register", "IORING_REGISTER_PROBE on a ring", [ring] {
    static char probe[sizeof(io_uring_probe) + 256 * sizeof(io_uring_probe_op)] = {};
    return sys(syscall(SYS_io_uring_register, ring(), IORING_REGISTER_PROBE, probe, 256));
  });
  attempt("name_to_handle_at", "/usr", [] {
    struct {
      file_handle h;
      unsigned char bytes[128];
    } fh{};
    fh.h.handle_bytes = 128;
    int mount_id = 0;
    return sys(syscall(SYS_name_to_handle_at, AT_FDCWD, "/usr", &fh.h, &mount_id, 0));
  });
  attempt("open_by_handle_at", "a bad mount descriptor (checked before the capability)", [] {
    struct {
      file_handle h;
      unsigned char bytes[128];
    } fh{};
    fh.h.handle_bytes = 8;
    return sys(syscall(SYS_open_by_handle_at, -1, &fh.h, O_RDONLY));
  });
  attempt("fanotify_init", "FAN_CLASS_NOTIF | FAN_REPORT_FID (allowed unprivileged)", [] {
    return sys(syscall(SYS_fanotify_init, kFanClassNotif | kFanReportFid, O_RDONLY));
  });
  attempt("lookup_dcookie", "no arguments (the kernel has no such call any more)", [] {
    return sys(syscall(SYS_lookup_dcookie, 0, nullptr, 0));
  });
  attempt("pidfd_getfd", "its own fd 0", [] {
    int pidfd = int(syscall(SYS_pidfd_open, getpid(), 0));
    return sys(syscall(SYS_pidfd_getfd, pidfd, 0, 0));
  });
  // clone(2) with each namespace flag, each beside CLONE_NEWUSER so an unprivileged caller may.
  const std::pair<const char*, unsigned long> ns_flags[] = {
      {"CLONE_NEWUSER", 0},
      {"CLONE_NEWUSER|CLONE_NEWNS", CLONE_NEWNS},
      {"CLONE_NEWUSER|CLONE_NEWUTS", CLONE_NEWUTS},
      {"CLONE_NEWUSER|CLONE_NEWIPC", CLONE_NEWIPC},
      {"CLONE_NEWUSER|CLONE_NEWPID", CLONE_NEWPID},
      {"CLONE_NEWUSER|CLONE_NEWNET", CLONE_NEWNET},
      {"CLONE_NEWUSER|CLONE_NEWCGROUP", CLONE_NEWCGROUP}};
  for (const auto& [name, flag] : ns_flags)
    attempt("clone", name, [flag = flag] { return raw_clone(CLONE_NEWUSER | flag); });
  attempt("clone3", "a plain child (flags 0)", [] {
    clone_args args{};
    args.exit_signal = SIGCHLD;
    long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid == 0) syscall(SYS_exit_group, 0);
    Result r = sys(pid);
    if (pid > 0) waitpid(pid_t(pid), nullptr, 0);
    return r;
  });
  // Other ABIs: the filter checks the architecture first; anything else ends the process.
  attempt("bpf", "through the i386 ABI (int 0x80, bpf = 357)", [] {
    long r = int80(357, BPF_MAP_CREATE, 0, 0);
    return Result{r < 0 ? -1 : r, r < 0 ? int(-r) : 0};
  });
  attempt("bpf", "through the x32 ABI (nr | 0x40000000)", [] {
    return sys(syscall(SYS_bpf | 0x40000000, BPF_MAP_CREATE, nullptr, 0));
  });
}

void allowed_calls() {
  attempt("openat", "/etc/hostname for reading", [] { return sys(syscall(SYS_openat, AT_FDCWD, "/etc/hostname", O_RDONLY | O_CLOEXEC)); });
  attempt("clone", "fork (SIGCHLD only)", [] { return raw_clone(0); });
  attempt("clone", "a thread (pthread_create: clone3, then clone)", [] {
    pthread_t t;
    int rc = pthread_create(&t, nullptr, thread_body, nullptr);
    if (rc == 0) pthread_join(t, nullptr);
    return Result{rc == 0 ? 0 : -1, rc};
  });
  attempt("execve", "/bin/true in a forked child, exit 0", [] {
    pid_t pid = fork();
    if (pid == 0) {
      char* argv[] = {const_cast<char*>("/bin/true"), nullptr};
      execve("/bin/true", argv, environ);
      _exit(127);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid) return Result{-1, errno};
    return Result{WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), 0};
  });
  attempt("execve", "posix_spawn /bin/true (clone CLONE_VM|CLONE_VFORK), exit 0", [] {
    pid_t pid;
    char* argv[] = {const_cast<char*>("/bin/true"), nullptr};
    int rc = posix_spawn(&pid, "/bin/true", nullptr, nullptr, argv, environ);
    if (rc != 0) return Result{-1, rc};
    int status = 0;
    waitpid(pid, &status, 0);
    return Result{WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), 0};
  });
  attempt("connect", "the fake network's TCP listener on 127.0.0.1", [] {
    int port = fake_tcp_port();
    if (port < 0) return Result{-1, ENOENT};
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET, a.sin_port = htons(uint16_t(port)), a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    Result r = sys(connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a));
    if (r.ret == 0) (void)!write(s, "modelvet-probe\n", 15);
    close(s);
    return r;
  });
}

}  // namespace

int main() {
  setvbuf(stdout, nullptr, _IOLBF, 0);
  if (!holds_no_capability()) {
    printf("{\"refused\": \"the probe holds a capability\"}\n");
    return 3;
  }
  denied_calls();
  allowed_calls();
  printf("{\"done\": true}\n");
  return 0;
}
