#pragma once
// Synthetic traces for the policy tests: a harness start-up, then whatever a test adds to the
// load phase, ending with the load result.
#include <string>

#include <gtest/gtest.h>

#include "policies/policy.h"

namespace modelvet::policy::testing {

inline constexpr int kHarnessPid = 4242;
inline constexpr const char* kAwsSecret = "wJalrXUtnFEMIK7MDENGbPxRfiCYzEXAMPLEKEY0";
inline constexpr const char* kHfToken = "hf_QwErTyUiOpAsDfGhJkLzXcVbNm1234567890";

class Trace {
 public:
  // The harness's own start-up: its exec, Python reading the system, importing torch.
  Trace() {
    kernel("exec", {{"filename", "/usr/libexec/modelvet/harness"}, {"argv", {"harness"}}, {"ppid", 1}, {"comm", "harness"}});
    phase("setup");
    kernel("open", {{"path", "/usr/lib/python3.11/os.py"}, {"flags_str", "O_RDONLY|O_CLOEXEC"}, {"ret", 3}});
    kernel("open", {{"path", "/home/alice/.cache/matplotlib/fontlist.json"}, {"flags_str", "O_WRONLY|O_CREAT"}, {"ret", -30}});
    kernel("mmap_exec", {{"fd", 3}, {"prot", 5}, {"path", "/opt/weird/libsetup.so"}});
    python("audit", {{"event", "compile"}, {"args", {"'import torch'", "'<string>'"}}});
    phase("load");
  }

  Trace& kernel(const std::string& kind, nlohmann::json data, int pid = kHarnessPid) { return add("kernel", kind, std::move(data), pid); }
  Trace& python(const std::string& kind, nlohmann::json data) { return add("python", kind, std::move(data), 1); }
  Trace& net(const std::string& kind, nlohmann::json data) { return add("net", kind, std::move(data), 0); }
  Trace& phase(const std::string& name) { return python("phase", {{"name", name}}); }
  Trace& load_ok() { return python("load", {{"status", "ok"}, {"loader", "torch"}}); }
  Trace& load_raised(const std::string& exception) {
    return python("load", {{"status", "raised"}, {"exception", exception}, {"type", "TypeError"}, {"loader", "pickle"}});
  }
  // A benign loader's own work: reading the model and the system, mapping a torch library.
  Trace& benign_load() {
    kernel("open", {{"path", "/work/models/m.pt"}, {"flags_str", "O_RDONLY|O_CLOEXEC"}, {"ret", 5}});
    kernel("open", {{"path", "/proc/cpuinfo"}, {"flags_str", "O_RDONLY"}, {"ret", 6}});
    kernel("open", {{"path", "/sys/devices/system/cpu/online"}, {"flags_str", "O_RDONLY"}, {"ret", 6}});
    kernel("open", {{"path", "/proc/self/maps"}, {"flags_str", "O_RDONLY"}, {"ret", 6}});
    kernel("mmap_exec", {{"fd", 7}, {"prot", 5}, {"path", "/usr/lib/python3/dist-packages/torch/lib/libtorch_cpu.so"}});
    kernel("open", {{"path", "/tmp/extract/data.pkl"}, {"flags_str", "O_WRONLY|O_CREAT|O_TRUNC"}, {"ret", 8}});
    kernel("write", {{"fd", 8}, {"bytes", 4096}, {"path", "/tmp/extract/data.pkl"}});
    kernel("mkdir", {{"path", "extract2"}, {"mode", 448}});  // relative: under scratch
    python("call", {{"callable", "torch._utils._rebuild_tensor_v2"}, {"args", "(...)"}, {"origin", "pickle REDUCE @ offset 90"}});
    python("call", {{"callable", "collections.OrderedDict"}, {"args", "()"}, {"origin", "pickle REDUCE @ offset 12"}});
    return *this;
  }

  const Events& events() const { return events_; }
  uint64_t now() const { return t_; }

 private:
  Trace& add(const std::string& source, const std::string& kind, nlohmann::json data, int pid) {
    Event e;
    t_ += 1'000'000;  // 1 ms apart
    e.t_ns = t_;
    e.source = source;
    e.kind = kind;
    e.pid = pid;
    e.data = std::move(data);
    events_.push_back(std::move(e));
    return *this;
  }

  Events events_;
  uint64_t t_ = 5'000'000'000;
};

inline Context context() {
  Context c;
  c.harness_pid = kHarnessPid;
  c.model_path = "/work/models/m.pt";
  c.decoy_secrets = {{"~/.aws/credentials", kAwsSecret}, {"env AWS_SECRET_ACCESS_KEY", kAwsSecret}, {"env HF_TOKEN", kHfToken}};
  c.decoy_files = {"/home/alice/.aws/credentials", "/home/alice/.cache/huggingface/token"};
  c.load_reached = true;
  return c;
}

inline const Finding* find_rule(const Verdict& v, const std::string& rule) {
  for (const auto& f : v.findings)
    if (f.rule == rule) return &f;
  return nullptr;
}

inline std::string rules_of(const Verdict& v) {
  std::string out;
  for (const auto& f : v.findings) out += f.rule + "(" + f.severity + ": " + f.evidence + ") ";
  return out;
}

}  // namespace modelvet::policy::testing
