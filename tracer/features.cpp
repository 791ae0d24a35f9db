// Runtime feature probing for `modelvet doctor`: each program type is tried for real with a
// two-instruction program (and, where loading alone proves nothing, attached), because kernels
// that have a program type compiled in may still refuse it (lockdown, LSM policy, EPERM).
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "tracer/tracer.h"

namespace modelvet::tracer {
namespace {

// r0 = ret; exit
int load_trivial(bpf_prog_type type, bpf_attach_type expected, uint32_t attach_btf_id, int ret) {
  const bpf_insn insns[] = {
      {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .src_reg = 0, .off = 0, .imm = ret},
      {.code = BPF_JMP | BPF_EXIT, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = 0},
  };
  LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = expected, .attach_btf_id = attach_btf_id);
  return bpf_prog_load(type, nullptr, "GPL", insns, 2, &opts);
}

bool exists(const char* path) {
  struct stat st;
  return stat(path, &st) == 0;
}

// Loads, then (optionally) attaches through raw_tracepoint_open: the step trampolines need.
bool probe(bpf_prog_type type, bpf_attach_type expected, uint32_t btf_id, int ret, bool attach, const char* raw_tp = nullptr) {
  int fd = load_trivial(type, expected, btf_id, ret);
  if (fd < 0) return false;
  bool ok = true;
  if (attach) {
    int link = bpf_raw_tracepoint_open(raw_tp, fd);
    ok = link >= 0;
    if (link >= 0) close(link);
  }
  close(fd);
  return ok;
}

}  // namespace

Features probe_features() {
  Features f;
  libbpf_print_fn_t old = libbpf_set_print(nullptr);  // probing failures are answers, not noise
  f.btf = exists("/sys/kernel/btf/vmlinux");
  btf* vmlinux = f.btf ? btf__load_vmlinux_btf() : nullptr;
  auto btf_id = [&](const char* name, int kind) -> uint32_t {
    if (!vmlinux) return 0;
    int id = btf__find_by_name_kind(vmlinux, name, kind);
    return id > 0 ? static_cast<uint32_t>(id) : 0;
  };

  f.ringbuf = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, nullptr) == 1;
  f.tracepoints = probe(BPF_PROG_TYPE_TRACEPOINT, BPF_CGROUP_INET_INGRESS, 0, 0, false) &&
                  (exists("/sys/kernel/tracing/events/syscalls") || exists("/sys/kernel/debug/tracing/events/syscalls"));
  f.raw_tp = probe(BPF_PROG_TYPE_RAW_TRACEPOINT, BPF_CGROUP_INET_INGRESS, 0, 0, true, "sys_enter");
  if (uint32_t id = btf_id("btf_trace_sys_enter", BTF_KIND_TYPEDEF))
    f.tp_btf = probe(BPF_PROG_TYPE_TRACING, BPF_TRACE_RAW_TP, id, 0, true);
  if (uint32_t id = btf_id("do_unlinkat", BTF_KIND_FUNC))
    f.fentry = probe(BPF_PROG_TYPE_TRACING, BPF_TRACE_FENTRY, id, 0, true);
  if (uint32_t id = btf_id("bpf_lsm_file_open", BTF_KIND_FUNC))
    f.lsm = probe(BPF_PROG_TYPE_LSM, BPF_LSM_MAC, id, 0, false);
  // A kprobe program only runs if the kernel can create kprobes (CONFIG_KPROBES: the PMU).
  f.kprobe = probe(BPF_PROG_TYPE_KPROBE, BPF_CGROUP_INET_INGRESS, 0, 0, false) &&
             exists("/sys/bus/event_source/devices/kprobe/type");
  f.cgroup_sock_addr = probe(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_CONNECT, 0, 1, false);
  if (!f.raw_tp && !f.tracepoints && !f.cgroup_sock_addr)
    f.error = errno == EPERM ? "BPF not permitted (need root / CAP_BPF+CAP_PERFMON)" : fmt::format("BPF unavailable: {}", strerror(errno));
  btf__free(vmlinux);
  libbpf_set_print(old);
  return f;
}

nlohmann::json Features::to_json() const {
  nlohmann::json j = {{"tracepoints", tracepoints}, {"raw_tp", raw_tp}, {"tp_btf", tp_btf},
                      {"fentry", fentry},           {"lsm", lsm},       {"kprobe", kprobe},
                      {"cgroup_sock_addr", cgroup_sock_addr}, {"ringbuf", ringbuf}, {"btf", btf},
                      {"ebpf_usable", ebpf_usable()}};
  if (!error.empty()) j["error"] = error;
  return j;
}

std::string Features::summary() const {
  std::string have, missing;
  const nlohmann::json all = to_json();  // a named object: items() only references it
  for (auto& [name, on] : all.items()) {
    if (name == "ebpf_usable" || name == "error") continue;
    (on.get<bool>() ? have : missing) += " " + name;
  }
  std::string s = fmt::format("ebpf {}: loads{}", ebpf_usable() ? "usable" : "NOT usable", have.empty() ? " nothing" : have);
  if (!missing.empty()) s += ";  missing" + missing;
  if (!error.empty()) s += " (" + error + ")";
  return s;
}

}  // namespace modelvet::tracer
