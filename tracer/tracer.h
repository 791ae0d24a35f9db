#pragma once
// The kernel-side witness of a detonation: eBPF programs that record what every process of a
// jail does (exec, fork/exit, files, network, denied and dangerous syscalls), scoped by the
// jail's cgroup-v2 directory, and cgroup sock_addr hooks that steer the jail's traffic to its
// fake services. One Tracer per process serves many jails at once; their events never mix.
// Event kinds and fields: tracer/README.md. Where BPF is refused, tracer/ptrace_tracer.h is
// the fallback (same events, backend "ptrace", follows a process tree instead of a cgroup).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "trace/event.h"

namespace modelvet::tracer {

// Which BPF program types this kernel actually loads (each probed with a tiny program).
struct Features {
  bool tracepoints = false;        // tp/* (load, and tracefs present for attaching)
  bool raw_tp = false;             // raw_tp/* (load + attach to sys_enter)
  bool tp_btf = false;             // tp_btf/* (BTF-typed raw tracepoints)
  bool fentry = false;             // fentry/fexit (trampolines)
  bool lsm = false;                // lsm/*
  bool kprobe = false;             // kprobes (program type + the kernel's kprobe PMU)
  bool cgroup_sock_addr = false;   // cgroup/connect4 ... (the redirect hooks)
  bool ringbuf = false;            // BPF_MAP_TYPE_RINGBUF
  bool btf = false;                // /sys/kernel/btf/vmlinux (CO-RE)
  std::string error;               // why nothing could be probed (e.g. not root), or ""
  // What the eBPF backend needs: raw_tp (sched) + tp_btf (sys_enter/exit) + cgroup_sock_addr + ringbuf + btf.
  bool ebpf_usable() const { return raw_tp && tp_btf && cgroup_sock_addr && ringbuf && btf; }
  nlohmann::json to_json() const;
  std::string summary() const;     // one line: "ebpf usable: raw_tp tp_btf ...; missing: fentry lsm"
};
Features probe_features();

struct RedirectTarget {
  uint16_t tcp_port = 0;   // 0 = do not rewrite
  uint16_t udp_port = 0;
};

struct Stats {
  uint64_t events = 0;     // events returned for the session
  uint64_t dropped = 0;    // records of the session lost (ring full, over the per-session cap, or
                           // folded repeats whose first event was lost)
  // {"high": {"emitted", "dropped", "capped", "kept"}, "bulk": {..., "folded", "folded_unattached"}}
  nlohmann::json per_buffer;
};

class Session;  // the events of one jail (tracer/session.h)

class Tracer {
 public:
  // Loads and attaches everything and starts the ring-buffer readers; nullptr and *error when
  // BPF is unavailable (not root, no BTF, program rejected...).
  static std::unique_ptr<Tracer> start(std::string* error);
  ~Tracer();
  Tracer(const Tracer&) = delete;
  Tracer& operator=(const Tracer&) = delete;

  std::string backend() const { return "ebpf"; }
  std::vector<std::string> active_hooks() const;

  // Records every task whose cgroup-v2 id is that of cgroup_dir_fd (or a cgroup below it at the
  // same depth as the first jail's), and attaches the connect4/6 + sendmsg4/6 hooks to it: they
  // record each original destination and, for non-zero ports, rewrite it to 127.0.0.1:<port>
  // (::1 for IPv6). nullptr and *error on failure.
  std::shared_ptr<Session> watch(int cgroup_dir_fd, const RedirectTarget& redirect, std::string* error);
  // Once the jail's processes are gone: drains the rings, stops watching, detaches the hooks,
  // and returns the session's events sorted by t_ns. A second call returns nothing new.
  Events finish(Session& s);
  Stats stats(const Session& s) const;

  struct Impl;

 private:
  explicit Tracer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace modelvet::tracer
