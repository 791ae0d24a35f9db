// batch under signals, through the real binary and real jails: a batch stopped by SIGTERM or SIGINT
// mid-way keeps what it finished (no torn line), and --resume completes it with nothing lost
// and nothing twice. Then a Hugging Face cache end to end: a blob shared by two revisions is
// detonated once and reported under both names, non-model files are counted, a link escaping
// blobs/ is an error result, and the --summary document counts against the Hub's prior.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include <fmt/core.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/detonation_support.h"

namespace fs = std::filesystem;
using modelvet::testing::assert_jail_is_isolated;

namespace {

std::vector<std::string> lines_of(const fs::path& p) {
  std::vector<std::string> out;
  std::ifstream in(p);
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

// A benign protocol-2 pickle: {tag: i}.
std::string benign_pickle(const std::string& tag, int i) {
  return std::string("\x80\x02}X", 4) + char(tag.size()) + std::string(3, '\0') + tag + "K" + char(i) + "s.";
}

fs::path fresh_dir(const std::string& name) {
  fs::path d = fs::path(MODELVET_BINARY_DIR) / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

pid_t spawn(const std::vector<std::string>& args) {
  pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, STDERR_FILENO);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

// Waits for pid up to `seconds`; -1 on timeout (the child is then killed).
int wait_status(pid_t pid, int seconds) {
  for (int i = 0; i < seconds * 10; ++i) {
    int st = 0;
    if (waitpid(pid, &st, WNOHANG) == pid) return st;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return -1;
}

// Stops a batch with `sig` while its third detonation runs, then resumes it: the stopped run exits
// 128+sig having written only whole, non-error lines and a summary that names the signal, and
// --resume completes the batch with nothing lost and nothing twice.
void interrupt_then_resume(int sig, const std::string& name) {
  assert_jail_is_isolated();
  const int kFiles = 6;
  fs::path dir = fresh_dir("e2e-" + name + "-models");
  for (int i = 0; i < kFiles; ++i) std::ofstream(dir / ("m" + std::to_string(i) + ".pkl"), std::ios::binary) << benign_pickle("s" + std::to_string(i), i);
  fs::path out = fs::path(MODELVET_BINARY_DIR) / ("e2e-" + name + ".jsonl");
  fs::path summary = fs::path(MODELVET_BINARY_DIR) / ("e2e-" + name + ".summary.json");
  fs::remove(out);
  fs::remove(summary);

  pid_t pid = spawn({modelvet::testing::kBinary, "batch", "--quiet", "--jobs", "1", "--summary", summary.string(), "--output",
                     out.string(), dir.string()});
  ASSERT_GT(pid, 0);
  // Wait for two finished results, then the signal while the third detonation runs.
  bool two = false;
  for (int i = 0; i < 1200 && !two; ++i) {
    two = lines_of(out).size() >= 2;
    if (!two) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(two) << "no results after 120 s";
  ASSERT_EQ(kill(pid, sig), 0);
  int st = wait_status(pid, 120);
  ASSERT_NE(st, -1) << "batch did not stop within 120 s of " << name;
  ASSERT_TRUE(WIFEXITED(st)) << "killed by signal " << WTERMSIG(st) << " instead of stopping cleanly";
  EXPECT_EQ(WEXITSTATUS(st), 128 + sig);

  auto first = lines_of(out);
  EXPECT_GE(first.size(), 2u);
  EXPECT_LT(first.size(), size_t(kFiles)) << "the batch ran to its end: " << name << " did not stop it";
  std::ifstream raw(out, std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(raw)), {});
  ASSERT_FALSE(all.empty());
  EXPECT_EQ(all.back(), '\n') << "torn last line";
  for (const auto& l : first) {
    auto j = nlohmann::json::parse(l, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << l;
    EXPECT_NE(j.value("verdict", ""), "error") << l;  // nothing the signal broke is written
  }
  std::ifstream sin(summary);
  auto s = nlohmann::json::parse(sin, nullptr, false);
  ASSERT_FALSE(s.is_discarded()) << "no --summary after " << name;
  EXPECT_EQ(s["summary"]["interrupted"], name);
  EXPECT_EQ(s["summary"].value("unfinished", -1), int(kFiles - first.size()));

  auto resumed = modelvet::testing::run_modelvet("batch --quiet --jobs 1 --resume --output " + out.string() + " " + dir.string());
  EXPECT_EQ(resumed.exit_code, 0);
  std::map<std::string, int> seen;
  for (const auto& l : lines_of(out)) {
    auto j = nlohmann::json::parse(l);
    seen[j["path"].get<std::string>()]++;
    EXPECT_EQ(j["verdict"], "benign") << l;
  }
  EXPECT_EQ(seen.size(), size_t(kFiles));
  for (const auto& [p, n] : seen) EXPECT_EQ(n, 1) << p << " reported " << n << " times";
}

}  // namespace

TEST(BatchSignals, SigtermMidwayThenResumeCompletesWithNothingLostOrTwice) { interrupt_then_resume(SIGTERM, "SIGTERM"); }
TEST(BatchSignals, SigintMidwayThenResumeCompletesWithNothingLostOrTwice) { interrupt_then_resume(SIGINT, "SIGINT"); }

TEST(BatchHfCache, SharedBlobOnceNonModelsCountedEscapesReportedPriorsReclassified) {
  assert_jail_is_isolated();
  fs::path root = fresh_dir("e2e-hf-cache");
  fs::path repo = root / "hub/models--acme--tiny";
  fs::create_directories(repo / "blobs");
  fs::create_directories(repo / "snapshots/r1");
  fs::create_directories(repo / "snapshots/r2");
  fs::create_directories(repo / "refs");
  std::ofstream(repo / "blobs/b1", std::ios::binary) << benign_pickle("weights", 1);
  std::ofstream(repo / "blobs/b2", std::ios::binary) << "{\"model_type\": \"tiny\"}\n";
  std::ofstream(repo / "refs/main") << "r2";
  std::ofstream(root / "outside.pkl", std::ios::binary) << benign_pickle("outside", 2);
  for (const char* rev : {"r1", "r2"}) {
    fs::create_symlink("../../blobs/b1", repo / "snapshots" / rev / "model.pkl");
    fs::create_symlink("../../blobs/b2", repo / "snapshots" / rev / "config.json");
  }
  fs::create_symlink("../../../../outside.pkl", repo / "snapshots/r2/escape.pkl");

  fs::path out = root / "out.jsonl", summary = root / "summary.json";
  auto run = modelvet::testing::run_modelvet("batch --quiet --jobs 2 --summary " + summary.string() + " --output " +
                                             out.string() + " " + (root / "hub").string());
  EXPECT_EQ(run.exit_code, 2);  // the escaping link is an error result
  std::map<std::string, nlohmann::json> by_path;
  for (const auto& l : lines_of(out)) {
    auto j = nlohmann::json::parse(l);
    by_path[j["path"].get<std::string>()] = j;
  }
  ASSERT_EQ(by_path.size(), 3u) << run.out;
  auto& m1 = by_path["hf://acme/tiny@r1/model.pkl"];
  auto& m2 = by_path["hf://acme/tiny@r2/model.pkl"];
  EXPECT_EQ(m1["verdict"], "benign");
  EXPECT_EQ(m2["verdict"], "benign");
  EXPECT_EQ(m1["sha256"], m2["sha256"]);
  EXPECT_EQ(m2.value("duplicate_of", ""), "hf://acme/tiny@r1/model.pkl");  // one detonation, two names
  EXPECT_EQ(m1["timing_ms"], m2["timing_ms"]);
  // Forked from a zygote (batch's default as root), the jail's own memory is measured by its cgroup.
  EXPECT_EQ(m1["launch"].get<std::string>().rfind("zygote", 0), 0u) << m1.dump(2);
  if (fs::exists("/sys/fs/cgroup/memory/cgroup.procs")) {
    ASSERT_TRUE(m1.contains("memory")) << m1.dump(2);
    EXPECT_GT(m1["memory"]["jail_peak_bytes"].get<uint64_t>(), 0u);
  }
  auto& esc = by_path["hf://acme/tiny@r2/escape.pkl"];
  EXPECT_EQ(esc["verdict"], "error");
  EXPECT_NE(esc["error"].get<std::string>().find("outside models--acme--tiny/blobs/"), std::string::npos);

  std::ifstream sin(summary);
  auto s = nlohmann::json::parse(sin)["summary"];
  EXPECT_EQ(s["files"], 3);
  EXPECT_EQ(s["benign"], 2);
  EXPECT_EQ(s["error"], 1);
  EXPECT_EQ(s["detonated"], 1);  // one jail for the shared blob; the escaping link never ran
  EXPECT_EQ(s["skipped"]["non_model"], 2);  // config.json in both revisions
  EXPECT_EQ(s["skipped"]["duplicates"], 1);

  // A Hub tree report over the same files: flagged unsafe → benign is `cleared`.
  fs::path tree = repo / "snapshots/r1/tree.json";
  std::ofstream(tree) << R"([{"path": "model.pkl", "securityFileStatus": {"status": "unsafe"}},
                             {"path": "config.json", "securityFileStatus": {"status": "safe"}}])";
  fs::path out2 = root / "out2.jsonl", summary2 = root / "summary2.json";
  auto run2 = modelvet::testing::run_modelvet("batch --quiet --summary " + summary2.string() + " --output " + out2.string() +
                                              " " + tree.string());
  EXPECT_EQ(run2.exit_code, 0);
  auto rows = lines_of(out2);
  ASSERT_EQ(rows.size(), 1u);
  auto r = nlohmann::json::parse(rows[0]);
  EXPECT_EQ(r["path"], "hf://acme/tiny@r1/model.pkl");
  EXPECT_EQ(r["prior"]["status"], "unsafe");
  EXPECT_EQ(r["verdict"], "benign");
  EXPECT_EQ(r["reclassification"], "cleared");
  std::ifstream s2in(summary2);
  auto s2 = nlohmann::json::parse(s2in)["summary"];
  EXPECT_EQ(s2["reclassification"]["cleared"], 1);
  EXPECT_EQ(s2["reclassification"]["with_prior"], 1);

  // Inputs that name nothing: exit 2.
  fs::create_directories(root / "empty");
  EXPECT_EQ(modelvet::testing::run_modelvet("batch --quiet " + (root / "empty").string()).exit_code, 2);
  std::ofstream(root / "empty/README.md") << "# nothing\n";
  EXPECT_EQ(modelvet::testing::run_modelvet("batch --quiet " + (root / "empty").string()).exit_code, 2);
  // --resume without --output is a usage error.
  EXPECT_EQ(modelvet::testing::run_modelvet("batch --quiet --resume " + tree.string()).exit_code, 2);
}

// Jails forked from a zygote record what exec'd jails record: the zygote imported joblib and dill
// before any recorder was installed, so their unpicklers (subclasses of pickle's, bound at import)
// must be adopted in each jail. Unadopted, a zygote's joblib load recorded no call and no library
// window, and xgboost's own ctypes calls while rebuilding its Booster made a plain
// XGBClassifier `malicious` in batch (found by a 1,000-file soak comparing batch with scan).
TEST(BatchZygote, LibraryFilesRecordTheSameCallsAsExecdJails) {
  assert_jail_is_isolated();
  const std::string corpus = std::string(MODELVET_BINARY_DIR) + "/corpus/benign/library/";
  const std::vector<std::string> files = {corpus + "xgboost/classifier.joblib", corpus + "sklearn/adaboost.joblib",
                                          corpus + "dill/closure_schedule.pkl", corpus + "pandas/frame_joblib.joblib"};
  fs::path root = fresh_dir("e2e-zygote-calls");
  std::ofstream list(root / "list.txt");
  for (const auto& f : files) list << f << "\n";
  list.close();
  std::map<std::string, std::map<std::string, nlohmann::json>> by_launch;
  for (const char* launch : {"zygote", "exec"}) {
    fs::path out = root / (std::string(launch) + ".jsonl");
    modelvet::testing::run_modelvet(fmt::format("batch --quiet --launch {} --output {} {}", launch, out.string(),
                                                (root / "list.txt").string()));
    for (const auto& l : lines_of(out)) {
      auto j = nlohmann::json::parse(l);
      by_launch[launch][j["path"].get<std::string>()] = j;
    }
  }
  for (const auto& f : files) {
    SCOPED_TRACE(f);
    const auto& z = by_launch["zygote"][f];
    const auto& e = by_launch["exec"][f];
    ASSERT_TRUE(z.is_object() && e.is_object());
    EXPECT_EQ(z["launch"].get<std::string>().rfind("zygote", 0), 0u) << z.dump(2).substr(0, 2000);
    EXPECT_EQ(z["verdict"], "benign") << z["summary"];
    EXPECT_EQ(e["verdict"], "benign") << e["summary"];
    EXPECT_GT(z["calls"].size(), 0u) << "the zygote's jail recorded no call of the unpickler";
    EXPECT_EQ(z["calls"].size(), e["calls"].size());
  }
}
