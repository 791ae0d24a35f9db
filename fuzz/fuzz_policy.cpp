// The policy parser and compiler (policies/policy.cpp, compiler.cpp: lint, macros, globs, regexes,
// CIDRs, port ranges, checks), and the engine running a compiled policy over a few events.
#include "fuzz/fuzz_support.h"
#include "policies/policy.h"

namespace {
using modelvet::Event;
using modelvet::Events;

Event event(uint64_t t, const char* source, const char* kind, nlohmann::json data) {
  Event e;
  e.t_ns = t;
  e.source = source;
  e.kind = kind;
  e.pid = 2;
  e.data = std::move(data);
  return e;
}

// One of each shape the matchers see: paths, argv, addresses, ports, python calls, phases.
const Events& sample_events() {
  static const Events events = {
      event(1, "python", "phase", {{"phase", "load"}}),
      event(2, "kernel", "exec", {{"filename", "/bin/sh"}, {"argv", {"sh", "-c", "id"}}, {"ppid", 1}}),
      event(3, "kernel", "open", {{"path", "/home/alice/.aws/credentials"}, {"flags_str", "O_RDONLY"}}),
      event(4, "kernel", "connect", {{"addr", "127.0.0.1"}, {"port", 4444}, {"family", "inet"}}),
      event(5, "python", "call", {{"func", "os.system"}, {"args", {"id"}}}),
      event(6, "net", "dns", {{"name", "exfil.invalid"}, {"qtype", "A"}}),
      event(7, "python", "phase", {{"phase", "shutdown"}}),
  };
  return events;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modelvet::policy;
  std::vector<LintIssue> issues;
  std::optional<Policy> p = parse_policy(std::string(modelvet::fuzz::as_bytes(data, size)), &issues);
  if (!p) return 0;
  Context ctx;
  ctx.harness_pid = 2;
  ctx.model_path = "/home/alice/models/m.pkl";
  ctx.decoy_secrets = {{"~/.aws/credentials", "AKIAFUZZFUZZFUZZFUZZ"}};
  ctx.decoy_files = {"/home/alice/.aws/credentials"};
  ctx.load_reached = true;
  (void)evaluate(*p, sample_events(), ctx);
  return 0;
}
