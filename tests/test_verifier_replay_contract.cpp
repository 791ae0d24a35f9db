// `modelvet replay` on a trace that breaks the contract: a header without the timeout field, a
// misspelt field, an event of unknown kind. Each is an `error` result naming the problem, never
// a verdict reached on defaults.
#include <fstream>

#include "tests/detonation_support.h"
#include "trace/trace.h"

using namespace modelvet;
using namespace modelvet::testing;

namespace {

// A trace of a run that timed out before the load finished: suspicious when read whole.
Trace timed_out_trace() {
  Trace t;
  t.header.sample = {"m.pkl", "00", 4, "pickle", "pickle"};
  t.header.run.ran = true;
  t.header.run.timed_out = true;
  t.header.run.timeout_ms = 1000;
  t.header.run.harness_exit = -1;
  t.header.run.harness_end = "signal 9";
  t.header.context.home = "/home/alice";
  t.header.tracer.backend = "ebpf";
  Event phase;
  phase.t_ns = 10;
  phase.source = kSourcePython;
  phase.kind = kinds::kPhase;
  phase.pid = 2;
  phase.data = {{"name", "load"}};
  t.events = {phase};
  return t;
}

// Writes the trace, lets `edit` change its lines, replays it and returns the single result.
nlohmann::json replay_edited(const std::string& name, const std::function<void(std::vector<nlohmann::json>&)>& edit) {
  std::string path = (std::filesystem::temp_directory_path() / fmt::format("mv-replay-{}-{}.jsonl", getpid(), name)).string();
  std::vector<nlohmann::json> lines = {to_json(timed_out_trace().header)};
  for (const Event& e : timed_out_trace().events) lines.push_back(to_json(e));
  edit(lines);
  {
    std::ofstream out(path);
    for (const auto& l : lines) out << l.dump() << "\n";
  }
  auto run = run_modelvet("replay --format json " + path);
  std::filesystem::remove(path);
  auto doc = nlohmann::json::parse(run.out, nullptr, false);
  EXPECT_FALSE(doc.is_discarded()) << run.out;
  if (doc.is_discarded()) return {};
  nlohmann::json r = doc["results"][0];
  r["exit_code"] = run.exit_code;
  return r;
}

}  // namespace

TEST(ReplayContract, AWholeTraceReplaysToItsVerdict) {
  auto r = replay_edited("whole", [](auto&) {});
  EXPECT_EQ(r["verdict"], "suspicious") << r.dump(2);
  EXPECT_EQ(r["exit_code"], 1);
}

TEST(ReplayContract, AHeaderWithoutTheTimeoutFieldIsAnErrorNotBenign) {
  auto r = replay_edited("no-timeout", [](auto& lines) { lines[0]["run"].erase("timed_out"); });
  EXPECT_EQ(r["verdict"], "error") << r.dump(2);
  EXPECT_NE(r["summary"].get<std::string>().find("run: missing timed_out"), std::string::npos) << r.dump(2);
  EXPECT_EQ(r["exit_code"], 2);
}

TEST(ReplayContract, AMisspeltHeaderFieldIsAnError) {
  auto r = replay_edited("misspelt", [](auto& lines) {
    lines[0]["context"]["harnes_pid"] = lines[0]["context"]["harness_pid"];
    lines[0]["context"].erase("harness_pid");
  });
  EXPECT_EQ(r["verdict"], "error") << r.dump(2);
  EXPECT_NE(r["summary"].get<std::string>().find("harness_pid"), std::string::npos);
}

TEST(ReplayContract, AnEventOfUnknownKindIsAnErrorNamingItsLine) {
  auto r = replay_edited("unknown-kind", [](auto& lines) {
    lines.push_back({{"t_ns", 20}, {"source", "kernel"}, {"kind", "net_redirct"}, {"pid", 7}});
  });
  EXPECT_EQ(r["verdict"], "error") << r.dump(2);
  EXPECT_NE(r["summary"].get<std::string>().find(":3: unknown kernel event kind"), std::string::npos) << r.dump(2);
}
