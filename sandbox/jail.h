#pragma once
// One detonation jail: fresh pid/mount/net/ipc/uts/cgroup namespaces, a pivot_root'ed
// read-only view, a decoy home, rlimits and cgroup limits, no capabilities, no_new_privs and a
// seccomp filter; the harness is exec'd inside it. Everything is torn down on return, and any
// setup failure means nothing ran (fail closed).
//
// Run as root, the jail user is a host uid of its own and a cgroup holds the tree. Run as any
// other user (rootless), a fresh user namespace owns the other namespaces and maps the jail
// user to the caller's uid; there is no cgroup (rlimits only, and the pid namespace is the
// whole-tree kill switch), and only the ptrace tracer can watch it.
#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "sandbox/decoys.h"
#include "sandbox/fake_net.h"
#include "sandbox/limits.h"
#include "trace/event.h"

namespace modelvet::sandbox {

inline constexpr int kJailUidBase = 61000;  // jail N runs as uid 61000+N: per-jail RLIMIT_NPROC

// True when jails made by this process are rootless (it is not root).
bool rootless_jails();
// What the reports call the isolation: "namespaces+seccomp", or "userns+namespaces+seccomp".
std::string isolation_label();

class SeccompProgram;
class Zygote;

struct JailConfig {
  std::string model_path;                 // host path; a private read-only copy goes in
  // Files beside the model that its format reaches by name (legacy joblib's *.pkl_01.npy, ONNX
  // external data, shards): copied next to it, read-only, so the load sees what a victim's does.
  std::vector<std::string> model_siblings;
  std::string exe_path = "/proc/self/exe";  // the harness binary, exec'd inside the jail
  std::vector<std::string> harness_args;  // argv[1..]; "{model}" becomes the model's jail path
  Limits limits;
  int timeout_ms = 30000;                 // wall clock from exec of the harness
  int slot = 0;                           // distinct per concurrent jail
  size_t max_event_bytes = 16u << 20;     // cap on what the harness may report
  // Fork the jail from this zygote (sandbox/zygote.h) instead of exec'ing a fresh harness; a
  // zygote that cannot serve the request falls back to the fresh exec (JailOutcome::launch).
  Zygote* zygote = nullptr;
  // Tests only (tests/test_sandbox_seccomp_jail.cpp compares the jail's filter with none): a
  // program loaded instead of the jail's own. No product code sets it (that test greps for it).
  const SeccompProgram* test_only_seccomp = nullptr;
};

// What the supervisor's observers (the tracer) need before the sample's first instruction.
struct JailHandle {
  bool user_namespace = false; // rootless: no cgroup (cgroup_fd -1, cgroup_id 0, cgroup_path "")
  int cgroup_fd = -1;
  uint64_t cgroup_id = 0;
  pid_t init_pid = 0;          // host pid of the jail's init (pid 1); the harness is its child
  uint64_t pidns_inode = 0;    // the jail's pid namespace: empty again after teardown
  uint16_t tcp_port = 0;       // the fake network's catch-all ports inside the netns
  uint16_t udp_port = 0;
  NetnsView netns;
  std::string cgroup_path;     // removed again at teardown
  std::string staging_dir;     // host dir the jail was built from, removed at teardown
};
using AttachFn = std::function<bool(const JailHandle&, std::string* error)>;

struct JailOutcome {
  bool ran = false;              // the harness was exec'd inside a complete jail
  std::string error;             // why the jail could not be set up (then ran == false)
  int exit_code = -1;            // harness exit code, or -1 when killed by a signal
  int term_signal = 0;
  bool timed_out = false;
  std::vector<std::string> limits_hit;   // "timeout", "cpu", "memory", "pids", "fsize"
  std::vector<std::string> event_lines;  // the harness's JSON lines, as received
  bool events_truncated = false;
  std::string output;            // the harness's stdout+stderr (bounded tail)
  Events net_events;             // what the fake network saw
  Decoys decoys;
  JailHandle handle;
  bool clean_teardown = false;   // no process, cgroup or staging dir left behind (checked)
  pid_t harness_host_pid = 0;    // host pid of the process that sent the first harness event (0: not found)
  std::string launch = "exec";   // "exec", "zygote <name>", or "exec (zygote <name> failed: …)"
  uint64_t exec_t_ns = 0;        // CLOCK_MONOTONIC when the harness was released
  double setup_ms = 0, run_ms = 0, teardown_ms = 0;
  uint64_t memory_peak_bytes = 0;  // the jail's memory cgroup peak (0: no memory cgroup)
};

JailOutcome run_jail(const JailConfig& config, const AttachFn& attach);

}  // namespace modelvet::sandbox
