#include "verifier/doctor.h"

#include <sched.h>
#include <seccomp.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <fmt/core.h>

#include "sandbox/cgroup.h"
#include "sandbox/jail.h"
#include "tracer/tracer.h"
#include "verifier/verify.h"

namespace modelvet {
namespace fs = std::filesystem;
namespace {

// Every format the sniffer recognises, the loader it picks, and whether the victim's library
// itself runs in the jail ("real") or an emulation of it ("emulated"). README.md's format table
// says the same.
struct FormatRow {
  const char* format;
  const char* loader;
  const char* how;
  const char* detail;
};
constexpr FormatRow kFormats[] = {
    {"pickle", "pickle", "real", "pickle.load"},
    {"pytorch-zip", "torch", "real", "torch.load (torch 1.13, weights_only=False)"},
    {"pytorch-legacy", "torch", "real", "torch.load"},
    {"torchscript", "torch", "real", "torch.load dispatching to torch.jit.load"},
    {"joblib", "joblib", "real", "joblib.load"},
    {"dill", "dill", "real", "dill.load"},
    {"numpy-npy", "numpy", "real", "numpy.load(allow_pickle=True)"},
    {"numpy-npz", "numpy", "real", "numpy.load(allow_pickle=True), every member read"},
    {"keras-h5", "keras-h5", "emulated", "Keras is not packaged: model_config read with h5py, Lambda layers revived as Keras does"},
    {"keras-v3", "keras-h5", "emulated", "Keras is not packaged: config.json of the .keras zip, model.weights.h5 read; keras.utils.get_file a stand-in"},
    {"savedmodel", "savedmodel", "emulated", "TensorFlow is not packaged: the Keras metadata in the protobuf"},
    {"paddle", "paddle", "emulated", "paddle is not packaged: pickle.load(encoding='latin1')"},
    {"7z", "7z", "real", "py7zr extraction, then each member by content"},
    {"tar / nemo / zip", "archive", "real", "tarfile / zipfile extraction, then each member by content"},
    {"safetensors", "", "real", "header validated statically: no code path, no detonation"},
    {"gguf", "gguf", "real+emulated", "chat template rendered with the real jinja2 as llama-cpp-python does; llama.cpp load emulated (metadata read, tensors not loaded)"},
    {"onnx", "onnx", "real+emulated", "onnx.load with the real onnx (external data); custom-op library registration emulated (onnxruntime is not packaged)"},
};

// Tries to create the jail's namespaces in a throw-away child.
bool can_unshare(int flags, std::string* why) {
  pid_t pid = fork();
  if (pid == 0) _exit(unshare(flags) == 0 ? 0 : 1);
  int status = 0;
  waitpid(pid, &status, 0);
  bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (!ok) *why = "unshare refused (namespaces disabled for this user)";
  return ok;
}

std::string read_first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// Never throws: an unprivileged doctor may not even look (tracefs is root-only).
bool path_exists(const std::string& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

nlohmann::json check(bool ok, const std::string& detail) { return {{"ok", ok}, {"detail", detail}}; }

}  // namespace

nlohmann::json run_doctor() {
  nlohmann::json checks = nlohmann::json::object();
  std::string why;
  bool root = geteuid() == 0;
  checks["root"] = check(true, root ? "running as root: jails get their own uid, a cgroup, and eBPF"
                                    : "not root: rootless jails (a user namespace, rlimits only, the ptrace tracer)");
  std::string userns = read_first_line("/proc/sys/kernel/unprivileged_userns_clone");
  std::string maxns = read_first_line("/proc/sys/user/max_user_namespaces");
  bool userns_ok = userns != "0" && maxns != "0";
  checks["user_namespaces"] = check(userns_ok || root, userns_ok ? "allowed for unprivileged users (max " + maxns + ")"
                                                         : "forbidden by this host (unprivileged_userns_clone=0 or max_user_namespaces=0): only root can detonate");
  // Exactly what a jail will do: rootless, the other namespaces come with a user namespace.
  int flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWPID | CLONE_NEWCGROUP;
  bool ns = can_unshare(root ? flags : flags | CLONE_NEWUSER, &why);
  checks["namespaces"] = check(ns, ns ? std::string(root ? "" : "user, ") + "pid, mnt, net, ipc, uts, cgroup" : why);
  const scmp_version* v = seccomp_version();
  int api = seccomp_api_get();
  bool seccomp_ok = prctl(PR_GET_SECCOMP) >= 0 && api >= 1;
  checks["seccomp"] = check(seccomp_ok, fmt::format("libseccomp {}.{}.{}, kernel API level {}", v->major, v->minor, v->micro, api));
  std::string cg2 = sandbox::find_cgroup2_mount();
  std::string cg2_detail = cg2.empty() ? "cgroup2 not mounted: no tracer scope, no whole-tree kill" : "mounted at " + cg2;
  if (!root) cg2_detail += " (rootless jails do not use it)";
  checks["cgroup2"] = check(!cg2.empty() || !root, cg2_detail);
  sandbox::V1Limits v1 = sandbox::V1Limits::create("doctor-probe", 64, 1ull << 30);
  std::string v1d = v1.describe();
  checks["cgroup_limits"] = check(true, v1d.empty() ? "none beside rlimits (memory/pids limits by rlimit only)" : "v1 controllers: " + v1d);
  if (sandbox::kSanitizerBuild)  // sandbox/limits.h: ASan's shadow cannot live under RLIMIT_AS
    checks["address_space"] = check(true, root ? "sanitizer build: no RLIMIT_AS in jails; memory bounded by the cgroup limit only"
                                               : "sanitizer build: no RLIMIT_AS in jails, and rootless jails have no cgroup: no memory limit");
  bool tracefs = path_exists("/sys/kernel/tracing/events");
  checks["tracefs"] = root ? check(tracefs, tracefs ? "/sys/kernel/tracing" : "not mounted (the tracer mounts it when it starts)")
                           : check(true, "not used: rootless jails are traced with ptrace");
  bool btf = path_exists("/sys/kernel/btf/vmlinux");
  checks["btf"] = check(btf, btf ? "/sys/kernel/btf/vmlinux" : "no kernel BTF: CO-RE programs cannot load");

  tracer::Features features = tracer::probe_features();
  nlohmann::json libs = nlohmann::json::object();
  for (const char* lib : {"torch", "numpy", "joblib", "dill", "h5py", "py7zr", "sklearn", "google/protobuf", "jinja2", "onnx"})
    libs[lib] = path_exists(fmt::format("/usr/lib/python3/dist-packages/{}", lib));

  std::string error = "not root: eBPF is not used for rootless jails";
  auto t = root ? tracer::Tracer::start(&error) : nullptr;
  nlohmann::json tracer_json = {{"features", features.to_json()}, {"summary", features.summary()}};
  std::string mode;
  if (t) {
    tracer_json["backend"] = t->backend();
    tracer_json["active_hooks"] = t->active_hooks();
  } else {
    tracer_json["error"] = error;
  }
  // Without BPF the ptrace fallback observes the jail (same events, connections steered by ptrace).
  bool ready = ns && seccomp_ok && (!root || !cg2.empty());
  std::string backend = t ? t->backend() : "ptrace (fallback)";
  tracer_json["fallback"] = "ptrace: used when eBPF cannot load or modelvet is not root (--tracer auto), or with --tracer ptrace";
  mode = ready ? fmt::format("detonate: {}, tracer {}", sandbox::isolation_label(), backend)
               : "refuse: every file will be reported as `error` (see the failed checks)";
  nlohmann::json host = {{"kernel", host_info(nullptr)["kernel"]}, {"tracer", backend}, {"sandbox", sandbox::isolation_label()}};
  nlohmann::json formats = nlohmann::json::array();
  for (const FormatRow& f : kFormats)
    formats.push_back({{"format", f.format}, {"loader", f.loader}, {"how", f.how}, {"detail", f.detail}});
  return {{"host", host}, {"checks", checks}, {"tracer", tracer_json}, {"victim_libraries", libs},
          {"formats", formats}, {"mode", mode}, {"ready", ready}};
}

std::string render_doctor_text(const nlohmann::json& r) {
  std::string out = fmt::format("modelvet doctor — kernel {}\n\n", r["host"].value("kernel", "?"));
  for (auto& [name, c] : r["checks"].items())
    out += fmt::format("  [{}] {:<16} {}\n", c.value("ok", false) ? " ok " : "FAIL", name, c.value("detail", ""));
  out += fmt::format("\n  tracer: {}\n", r["tracer"].value("summary", ""));
  if (r["tracer"].contains("active_hooks")) {
    out += "  active hooks:";
    for (const auto& h : r["tracer"]["active_hooks"]) out += " " + h.get<std::string>();
    out += "\n";
  }
  if (r["tracer"].contains("error")) out += "  tracer error: " + r["tracer"]["error"].get<std::string>() + "\n";
  out += "  victim libraries:";
  for (auto& [lib, present] : r["victim_libraries"].items()) out += fmt::format(" {}{}", lib, present.get<bool>() ? "" : "(missing)");
  if (r.contains("formats")) {
    out += "\n\n  formats:\n";
    for (const auto& f : r["formats"])
      out += fmt::format("    {:<18} {:<14} {}\n", f.value("format", ""), f.value("how", ""), f.value("detail", ""));
  }
  out += fmt::format("\n  mode: {}\n", r.value("mode", ""));
  return out;
}

}  // namespace modelvet
