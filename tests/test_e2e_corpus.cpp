// End to end: the regression corpus (corpus/generate.py, written at build time) is verified by
// the real binary, through the real jail and the real eBPF tracer. Prints a confusion matrix and
// fails on any sample whose verdict differs from its label.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include <fmt/core.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/detonation_support.h"

using modelvet::testing::assert_jail_is_isolated;
using modelvet::testing::kBinary;
using modelvet::testing::run_command;

namespace fs = std::filesystem;

namespace {

const std::string kCorpus = std::string(MODELVET_BINARY_DIR) + "/corpus";


}  // namespace

TEST(EndToEnd, CorpusVerdictsMatchLabels) {
  assert_jail_is_isolated();
  auto rows = modelvet::testing::read_manifest(kCorpus);
  ASSERT_GE(rows.size(), 30u) << "corpus missing: build the `corpus` target";
  int malicious = 0, benign = 0;
  for (const auto& r : rows) {
    malicious += r["label"] == "malicious";
    benign += r["label"] == "benign";
  }
  EXPECT_GE(malicious, 15);
  EXPECT_GE(benign, 15);
  // Issue #15: files written by the real libraries (corpus/library.py: scikit-learn, pandas,
  // xgboost, torch/torchvision, scipy, numpy, dill, stdlib configs, h5py, stand-ins for
  // transformers/peft/lightning) must all be benign through the real jail, next to their
  // malicious twins (corpus/twins.py) that do the same things themselves.
  int library = 0, twins = 0;
  for (const auto& r : rows) {
    library += r["label"] == "benign" && r.value("file", "").rfind("benign/library/", 0) == 0;
    twins += r["label"] == "malicious" && r.value("file", "").rfind("malicious/twins/", 0) == 0;
  }
  EXPECT_GE(library, 60);
  EXPECT_GE(twins, 5);

  std::string traces = std::string(MODELVET_BINARY_DIR) + "/e2e-traces";
  fs::remove_all(traces);
  // The samples sit in one folder per label; the manifest beside them is not a model. Under the
  // sanitizers (scripts/sanitize.sh) every jail's harness is instrumented and several times
  // slower: MODELVET_SWEEP_STRIDE=N detonates every Nth sample only, named one by one.
  const int stride = std::max(1, std::atoi(std::getenv("MODELVET_SWEEP_STRIDE") ? std::getenv("MODELVET_SWEEP_STRIDE") : "1"));
  std::string inputs;
  if (stride == 1) {
    for (const char* label : {"malicious", "suspicious", "benign"})
      if (fs::exists(kCorpus + "/" + label)) inputs += " " + kCorpus + "/" + label;
  } else {
    std::vector<nlohmann::json> every_nth;
    for (size_t i = 0; i < rows.size(); i += size_t(stride)) every_nth.push_back(rows[i]);
    rows = every_nth;
    for (const auto& row : rows) inputs += " '" + kCorpus + "/" + row.value("file", "") + "'";
    std::printf("[   note   ] MODELVET_SWEEP_STRIDE=%d: %zu of the corpus's samples\n", stride, rows.size());
  }
  auto r = run_command(fmt::format("{} scan --format json --jobs 2 --timeout 60 --trace-dir {}{} 2>/dev/null", kBinary, traces, inputs));
  auto doc = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << r.out.substr(0, 2000);
  auto check = modelvet::testing::check_labels(rows, doc, kCorpus);
  std::vector<std::string> wrong;
  for (const auto& [row, result] : check.mismatches)
    wrong.push_back(fmt::format("{} [{}]: expected {}, got {} — {}", row.value("file", ""), row.value("technique", ""),
                                row.value("label", ""), result.is_null() ? "missing" : result.value("verdict", ""),
                                result.is_null() ? "" : result.value("summary", "")));
  std::string table = "\n" + modelvet::testing::confusion_table(check.matrix);
  std::cout << table << std::endl;
  for (const auto& w : wrong) ADD_FAILURE() << w;
  EXPECT_EQ(r.exit_code, 1);  // malicious files present

  // Every kept trace replays to the verdict the scan reached.
  std::map<std::string, std::string> scan_verdict;
  for (const auto& res : doc["results"]) scan_verdict[res.value("sha256", "")] = res.value("verdict", "");
  int replayed = 0;
  for (auto& entry : fs::directory_iterator(traces)) {
    auto rr = run_command(fmt::format("{} replay --format json {}", kBinary, entry.path().string()));
    auto rdoc = nlohmann::json::parse(rr.out, nullptr, false);
    ASSERT_FALSE(rdoc.is_discarded()) << entry.path();
    const auto& res = rdoc["results"][0];
    EXPECT_EQ(res.value("verdict", ""), scan_verdict[res.value("sha256", "")]) << "replay differs: " << entry.path();
    ++replayed;
  }
  EXPECT_GE(replayed, static_cast<int>(rows.size()) / 2);

  // Payloads wrote their markers inside the jail's /tmp, never the host's.
  for (auto& entry : fs::directory_iterator("/tmp"))
    EXPECT_EQ(entry.path().filename().string().rfind("mv_marker", 0), std::string::npos) << entry.path();
}

namespace {

std::string le32(uint32_t v) { return std::string(reinterpret_cast<const char*>(&v), 4); }
std::string be64(double d) {
  uint64_t v;
  memcpy(&v, &d, 8);
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = char(v >> (56 - 8 * i));
  return s;
}

nlohmann::json scan_one(const std::string& name, const std::string& bytes, int* exit_code) {
  std::string dir = std::string(MODELVET_BINARY_DIR) + "/e2e-basics";
  fs::create_directories(dir);
  std::string path = dir + "/" + name;
  std::ofstream(path, std::ios::binary) << bytes;
  auto r = run_command(fmt::format("{} scan --format json {} 2>/dev/null", kBinary, path));
  *exit_code = r.exit_code;
  auto doc = nlohmann::json::parse(r.out, nullptr, false);
  if (doc.is_discarded() || doc["results"].empty()) return nullptr;
  return doc["results"][0];
}

}  // namespace

// The three cases of the foundation issue, from bytes assembled here (nothing runs outside the jail).
TEST(EndToEnd, PosixSystemIsMaliciousWithTheExecAsEvidence) {
  assert_jail_is_isolated();
  const std::string cmd = "echo pwned > /tmp/mv_marker_e2e";
  const std::string pickle = std::string("\x80\x02") + "cposix\nsystem\nX" + le32(cmd.size()) + cmd + "\x85R.";
  int code = -1;
  auto r = scan_one("posix_system.pkl", pickle, &code);
  ASSERT_FALSE(r.is_null());
  EXPECT_EQ(r["verdict"], "malicious") << r.dump(2);
  EXPECT_EQ(code, 1);
  bool exec_cited = false;
  for (const auto& f : r["findings"]) exec_cited |= f.value("evidence", "").find("/bin/sh") != std::string::npos;
  EXPECT_TRUE(exec_cited) << r["findings"].dump(2);
  EXPECT_FALSE(fs::exists("/tmp/mv_marker_e2e"));
}

TEST(EndToEnd, DictOfFloatsIsBenign) {
  assert_jail_is_isolated();
  const std::string pickle = "\x80\x02}(X" + le32(1) + "wG" + be64(0.5) + "X" + le32(1) + "bG" + be64(-1.25) + "u.";
  int code = -1;
  auto r = scan_one("floats.pkl", pickle, &code);
  ASSERT_FALSE(r.is_null());
  EXPECT_EQ(r["verdict"], "benign") << r.dump(2);
  EXPECT_EQ(r["load"]["status"], "ok");
  EXPECT_EQ(code, 0);
  // The harness's own checks in the grace (threads, timers, processes) are not the file's reads.
  const auto files = r["behavior"].value("files", nlohmann::json::object());
  EXPECT_EQ(files.dump().find("/proc"), std::string::npos) << files.dump(2);
}

TEST(EndToEnd, TruncatedFileIsAnErrorWithAReason) {
  assert_jail_is_isolated();
  const std::string pickle = "\x80\x02}(X" + le32(1) + "wG" + be64(0.5);
  int code = -1;
  auto r = scan_one("truncated.pkl", pickle, &code);
  ASSERT_FALSE(r.is_null());
  EXPECT_EQ(r["verdict"], "error") << r.dump(2);
  EXPECT_FALSE(r.value("error", nlohmann::json()).is_null());
  EXPECT_EQ(code, 2);
  int code0 = -1;
  auto empty = scan_one("empty.pkl", "", &code0);
  EXPECT_EQ(empty["verdict"], "error");
  EXPECT_NE(empty.value("error", "").find("empty"), std::string::npos);
}



// The ptrace fallback (hosts without BPF) on the same samples as eBPF: the same verdicts, each
// report labelled with the backend that observed it.
TEST(EndToEnd, BothTracerBackendsReachTheSameVerdicts) {
  assert_jail_is_isolated();
  const std::string demo = std::string(MODELVET_BINARY_DIR) + "/demo-corpus";
  std::map<std::string, std::string> label;
  for (const auto& row : modelvet::testing::read_manifest(demo)) label[row["file"]] = row["label"];
  ASSERT_GE(label.size(), 8u);
  std::map<std::string, std::map<std::string, std::string>> verdicts;  // backend → file → verdict
  for (const std::string backend : {"ebpf", "ptrace"}) {
    auto r = run_command(fmt::format("{} scan --tracer {} --format json --jobs 2 {}/malicious {}/benign 2>/dev/null",
                                     kBinary, backend, demo, demo));
    auto doc = nlohmann::json::parse(r.out, nullptr, false);
    ASSERT_FALSE(doc.is_discarded()) << backend;
    EXPECT_EQ(doc["host"]["tracer"], backend);
    for (const auto& res : doc["results"]) {
      ASSERT_TRUE(res.contains("tracer") && res["tracer"].is_object()) << res.dump(2).substr(0, 2000);
      EXPECT_EQ(res["tracer"]["backend"], backend);
      verdicts[backend][fs::relative(res["path"].get<std::string>(), demo).string()] = res["verdict"];
    }
  }
  for (const auto& [file, expected] : label) {
    EXPECT_EQ(verdicts["ebpf"][file], expected) << file;
    EXPECT_EQ(verdicts["ptrace"][file], expected) << file << " (ptrace)";
  }
}
