// A whole trace file (trace/trace.cpp: read_trace), as `modelvet replay` reads one, then judged
// by the default policy with the context its header carries.
#include "fuzz/fuzz_support.h"
#include "policies/policy.h"
#include "trace/trace.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modelvet;
  static const policy::Policy kPolicy = policy::default_policy();
  std::string path = fuzz::ScratchDir::get().write("input.trace.jsonl", fuzz::as_bytes(data, size));
  Trace t;
  std::string error;
  if (!read_trace(path, &t, &error)) return 0;
  policy::Context ctx;
  ctx.harness_pid = t.header.context.harness_pid;
  if (!t.header.context.home.empty()) ctx.home = t.header.context.home;
  ctx.model_path = t.header.context.model_path;
  ctx.decoy_secrets = t.header.context.decoy_secrets;
  ctx.decoy_files = t.header.context.decoy_files;
  ctx.dropped = t.header.tracer.dropped;
  ctx.load_reached = t.header.run.ran;
  ctx.timed_out = t.header.run.timed_out;
  (void)policy::evaluate(kPolicy, t.events, ctx);
  return 0;
}
