// The verifier core without detonation: inputs and shards, report documents and exit codes,
// traces on disk, classification of runs that proved nothing, behaviour summaries.
#include <filesystem>
#include <fstream>

#include <fmt/core.h>
#include <gtest/gtest.h>

#include "policies/policy.h"
#include "verifier/behavior.h"
#include "verifier/classify.h"
#include "verifier/file_info.h"
#include "verifier/inputs.h"
#include "verifier/report.h"
#include "trace/trace.h"

namespace fs = std::filesystem;
using namespace modelvet;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/mv-verifier-test-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
  fs::path write(const std::string& rel, const std::string& content) {
    fs::path p = path / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }
};

Event ev(uint64_t t, const char* source, const char* kind, nlohmann::json data, int pid = 100) {
  Event e;
  e.t_ns = t, e.source = source, e.kind = kind, e.pid = pid, e.data = std::move(data);
  return e;
}

nlohmann::json result(const std::string& verdict) { return {{"verdict", verdict}, {"path", "x"}}; }

}  // namespace

TEST(FileInfo, HashesSizesAndRefusesEmptyOrMissingFiles) {
  TempDir d;
  auto f = d.write("a.bin", "abc");
  FileInfo info = inspect_file(f);
  EXPECT_EQ(info.size, 3u);
  EXPECT_EQ(info.sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_TRUE(info.error.empty());
  EXPECT_NE(inspect_file(d.write("empty.pkl", "")).error.find("empty"), std::string::npos);
  EXPECT_NE(inspect_file((d.path / "missing").string()).error.find("cannot read"), std::string::npos);
}

TEST(Inputs, DirectoriesAreWalkedSortedAndSymlinksSkipped) {
  TempDir d;
  d.write("b/2.pkl", "x");
  d.write("a/1.pkl", "x");
  fs::create_symlink("/etc/passwd", d.path / "a/link");
  std::vector<std::string> errors;
  auto files = expand_paths({d.path.string()}, &errors);
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(fs::path(files[0].path).filename(), "1.pkl");
  EXPECT_EQ(fs::path(files[1].path).filename(), "2.pkl");
}

TEST(Inputs, HuggingFaceCacheIsReportedAsHubPathsAndBlobsAreSkipped) {
  TempDir d;
  d.write("models--acme--bert/snapshots/abc123/pytorch_model.bin", "x");
  d.write("models--acme--bert/blobs/deadbeef", "x");
  std::vector<std::string> errors;
  auto files = expand_batch_inputs({d.path.string()}, &errors);
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].display, "hf://acme/bert@abc123/pytorch_model.bin");
}

TEST(Inputs, ManifestsAndHubSecurityStatusReports) {
  TempDir d;
  d.write("m/a.pkl", "x");
  auto manifest = d.write("m/list.jsonl", "{\"path\": \"a.pkl\"}\n# comment\nb.pkl\n");
  auto hub = d.write("m/tree.json",
                     R"([{"path": "a.pkl", "securityFileStatus": {"status": "unsafe"}},
                         {"path": "safe.bin", "securityFileStatus": {"status": "safe"}}])");
  std::vector<std::string> errors;
  auto files = expand_batch_inputs({manifest.string(), hub.string()}, &errors);
  ASSERT_EQ(files.size(), 2u);  // a.pkl, named by the manifest and the Hub report, is one entry
  EXPECT_EQ(files[0].path, (d.path / "m/a.pkl").string());
  EXPECT_EQ(files[1].path, (d.path / "m/b.pkl").string());
  EXPECT_EQ(files[0].prior["status"], "unsafe");
}

TEST(Shards, SlicesAreDisjointAndCoverEverything) {
  int counts[4] = {0, 0, 0, 0};
  for (int i = 0; i < 400; ++i) {
    std::string path = "file-" + std::to_string(i);
    int owners = 0;
    for (int k = 1; k <= 4; ++k)
      if (in_shard(path, k, 4)) ++owners, ++counts[k - 1];
    EXPECT_EQ(owners, 1) << path;
  }
  for (int c : counts) EXPECT_GT(c, 50);
  int k = 0, n = 0;
  std::string error;
  EXPECT_TRUE(parse_shard("2/3", &k, &n, &error));
  EXPECT_EQ(k, 2);
  EXPECT_EQ(n, 3);
  EXPECT_FALSE(parse_shard("4/3", &k, &n, &error));
  EXPECT_FALSE(parse_shard("x", &k, &n, &error));
  setenv("JOB_COMPLETION_INDEX", "0", 1);
  setenv("JOB_COMPLETIONS", "5", 1);
  EXPECT_TRUE(parse_shard("auto", &k, &n, &error)) << error;
  EXPECT_EQ(k, 1);
  EXPECT_EQ(n, 5);
  unsetenv("JOB_COMPLETION_INDEX");
  unsetenv("JOB_COMPLETIONS");
}

TEST(Report, ExitCodesFollowTheSpec) {
  EXPECT_EQ(exit_code_for({result("benign"), result("benign")}), 0);
  EXPECT_EQ(exit_code_for({result("benign"), result("error")}), 2);
  EXPECT_EQ(exit_code_for({result("error"), result("suspicious")}), 1);
  EXPECT_EQ(exit_code_for({result("malicious")}), 1);
}

TEST(Report, DocumentCountsVerdictsAndTextNamesEveryFile) {
  auto doc = make_document({{{"kernel", "6.1"}}, "default", "abc"},
                           {result("malicious"), result("benign"), result("error")});
  EXPECT_EQ(doc["summary"]["files"], 3);
  EXPECT_EQ(doc["summary"]["malicious"], 1);
  EXPECT_EQ(doc["summary"]["error"], 1);
  EXPECT_EQ(doc["tool"]["name"], "modelvet");
  std::string text = render_text(doc, false);
  EXPECT_NE(text.find("3 files: 1 malicious, 0 suspicious, 1 benign, 1 error"), std::string::npos) << text;
}

// A header of a run that started, as verify writes it, with the harness's exit code.
TraceHeader ran_header(int harness_exit) {
  TraceHeader h;
  h.sample.path = "m.pkl";
  h.run.ran = true;
  h.run.harness_exit = harness_exit;
  h.run.harness_end = fmt::format("exit {}", harness_exit);
  h.context.home = "/home/alice";
  return h;
}

TEST(Trace, RoundTripsAndRejectsGarbage) {
  TempDir d;
  Trace t;
  t.header.sample.path = "m.pkl";
  t.events = {ev(20, "python", "phase", {{"name", "load"}}), ev(10, "kernel", "exec", {{"argv", {"/bin/sh"}}})};
  sort_events(t.events);
  std::string error;
  ASSERT_TRUE(write_trace(t, (d.path / "t.jsonl").string(), &error)) << error;
  Trace back;
  ASSERT_TRUE(read_trace((d.path / "t.jsonl").string(), &back, &error)) << error;
  ASSERT_EQ(back.events.size(), 2u);
  EXPECT_EQ(back.events[0].kind, "exec");
  EXPECT_EQ(back.events[0].data["argv"][0], "/bin/sh");
  std::string header_line = to_json(t.header).dump();
  EXPECT_FALSE(read_trace(d.write("bad.jsonl", header_line + "\nnot json\n").string(), &back, &error));
  EXPECT_NE(error.find(":2"), std::string::npos);
  EXPECT_FALSE(read_trace(d.write("nohdr.jsonl", "{\"kind\":\"exec\"}\n").string(), &back, &error));
}

TEST(Classify, ARunThatNeverStartedIsAnError) {
  Trace t;
  t.header.sample.path = "m.pkl";
  t.header.run.ran = false;
  t.header.run.error = "unshare: Operation not permitted";
  auto r = classify(t, policy::default_policy());
  EXPECT_EQ(r["verdict"], "error");
  EXPECT_NE(r["error"].get<std::string>().find("unshare"), std::string::npos);
}

TEST(Classify, ABrokenFileWithNothingExecutedIsAnErrorNotBenign) {
  Trace t;
  t.header = ran_header(0);
  t.header.sample.format = "pickle";
  t.events = {ev(1, "python", "phase", {{"name", "load"}}),
              ev(2, "python", "load", {{"status", "raised"}, {"exception", "UnpicklingError: pickle data was truncated"}})};
  auto r = classify(t, policy::default_policy());
  EXPECT_EQ(r["verdict"], "error");
  EXPECT_NE(r["summary"].get<std::string>().find("truncated"), std::string::npos);
}

TEST(Classify, TimeoutWithoutFindingsIsSuspiciousAndMissingLoadIsAnError) {
  Trace t;
  t.header = ran_header(-1);
  t.header.run.timed_out = true;
  t.header.run.timeout_ms = 1000;
  t.events = {ev(1, "python", "phase", {{"name", "load"}})};
  EXPECT_EQ(classify(t, policy::default_policy())["verdict"], "suspicious");
  t.header = ran_header(-1);
  t.header.run.harness_end = "signal 9";
  auto r = classify(t, policy::default_policy());
  EXPECT_EQ(r["verdict"], "error");
  EXPECT_NE(r["error"].get<std::string>().find("signal 9"), std::string::npos);
}

TEST(Classify, NullsAndWrongTypesInAHostileTraceDoNotCrash) {
  Trace t;
  t.header = ran_header(-1);
  t.events = {ev(1, "python", "load", {{"status", nullptr}, {"exception", nullptr}, {"loader", 3}}),
              ev(2, "python", "call", {{"callable", nullptr}, {"args", {1, 2}}})};
  EXPECT_NO_THROW(classify(t, policy::default_policy()));
}

TEST(Behavior, SummarisesProcessesNetworkDecoysAndHidesSystemReads) {
  BehaviorContext ctx;
  ctx.decoy_files = {"/home/alice/.aws/credentials"};
  Events events = {
      ev(5, "kernel", "open", {{"path", "/usr/lib/python3.11/os.py"}, {"flags", 0}}),
      ev(6, "kernel", "open", {{"path", "/home/alice/.aws/credentials"}, {"flags", 0}}),
      ev(7, "kernel", "exec", {{"argv", {"/bin/sh", "-c", "id"}}, {"ppid", 1}}),
      ev(8, "kernel", "connect", {{"family", "inet"}, {"addr", "203.0.113.7"}, {"port", 4444}, {"proto", "tcp"}}),
      ev(9, "net", "tcp_connect", {{"sent_bytes", 5}, {"sent_preview", "hello"}}),
      ev(10, "net", "dns", {{"name", "c2.evil.invalid"}, {"type", "A"}}),
      ev(11, "kernel", "open", {{"path", "/home/alice/.bashrc"}, {"flags", 01101}}),
  };
  auto b = summarize_behavior(events, ctx);
  EXPECT_EQ(b["processes"].size(), 1u);
  EXPECT_EQ(b["network"][0]["dst"], "203.0.113.7");
  EXPECT_EQ(b["network"][0]["sent_preview"], "hello");
  EXPECT_EQ(b["dns"][0]["name"], "c2.evil.invalid");
  EXPECT_EQ(b["decoys_touched"][0], "~/.aws/credentials");
  EXPECT_EQ(b["files"]["read"], nlohmann::json({"~/.aws/credentials"}));
  EXPECT_EQ(b["files"]["written"], nlohmann::json({"~/.bashrc"}));
}

TEST(Classify, AHarnessEndedAfterTheFilesCodeRanIsSuspicious) {
  Trace t;
  t.header = ran_header(0);
  t.events = {ev(1, "python", "phase", {{"name", "load"}}),
              ev(2, "python", "call", {{"callable", "os._exit"}, {"args", "(0,)"}, {"origin", "pickle REDUCE @ offset 2"}})};
  auto r = classify(t, policy::default_policy());
  EXPECT_EQ(r["verdict"], "suspicious");
  EXPECT_NE(r["summary"].get<std::string>().find("os._exit"), std::string::npos);
}
