// Batch units: shard math (Slurm arrays from SLURM_ARRAY_TASK_MIN, Kubernetes Indexed Jobs),
// reclassification counts against a prior, --resume on a torn last line, the --jobs default.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "verifier/batch_output.h"
#include "verifier/inputs.h"
#include "verifier/progress.h"
#include "verifier/reclassify.h"
#include "verifier/worker_pool.h"

using namespace modelvet;
namespace fs = std::filesystem;

namespace {

// Sets scheduler variables for one test and clears every one of them afterwards.
struct SchedulerEnv {
  static constexpr const char* kVars[] = {"JOB_COMPLETION_INDEX", "JOB_COMPLETIONS", "SLURM_ARRAY_TASK_ID",
                                          "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_MAX", "SLURM_ARRAY_TASK_COUNT",
                                          "MODELVET_SHARDS"};
  SchedulerEnv() { clear(); }
  ~SchedulerEnv() { clear(); }
  void clear() {
    for (const char* v : kVars) unsetenv(v);
  }
  void set(const char* k, const std::string& v) { setenv(k, v.c_str(), 1); }
};

struct Shard {
  bool ok;
  int k, n;
  std::string error;
};

Shard auto_shard() {
  Shard s{false, 0, 0, ""};
  s.ok = parse_shard("auto", &s.k, &s.n, &s.error);
  return s;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

nlohmann::json res(const std::string& verdict, const nlohmann::json& prior = nullptr, bool cached = false) {
  nlohmann::json r = {{"path", "p"}, {"verdict", verdict}};
  if (!prior.is_null()) r["prior"] = prior;
  if (cached) r["cached"] = true;
  return r;
}

}  // namespace

TEST(BatchShards, SlurmArrayCountsFromTaskMin) {
  SchedulerEnv env;
  // sbatch --array=1-4: tasks 1..4 are slices 1..4.
  env.set("SLURM_ARRAY_TASK_MIN", "1");
  env.set("SLURM_ARRAY_TASK_MAX", "4");
  env.set("SLURM_ARRAY_TASK_COUNT", "4");
  for (int id = 1; id <= 4; ++id) {
    env.set("SLURM_ARRAY_TASK_ID", std::to_string(id));
    Shard s = auto_shard();
    ASSERT_TRUE(s.ok) << s.error;
    EXPECT_EQ(s.k, id);
    EXPECT_EQ(s.n, 4);
  }
  // --array=0-3 (0-based) gives the same slices.
  env.set("SLURM_ARRAY_TASK_MIN", "0");
  env.set("SLURM_ARRAY_TASK_ID", "0");
  Shard z = auto_shard();
  ASSERT_TRUE(z.ok) << z.error;
  EXPECT_EQ(z.k, 1);
  // --array=5-8 starts anywhere.
  env.set("SLURM_ARRAY_TASK_MIN", "5");
  env.set("SLURM_ARRAY_TASK_ID", "8");
  Shard last = auto_shard();
  ASSERT_TRUE(last.ok) << last.error;
  EXPECT_EQ(last.k, 4);
  // No MIN: taken as 0.
  unsetenv("SLURM_ARRAY_TASK_MIN");
  env.set("SLURM_ARRAY_TASK_ID", "3");
  EXPECT_EQ(auto_shard().k, 4);
}

TEST(BatchShards, OutOfRangeIsAClearUsageError) {
  SchedulerEnv env;
  // --array=1-7:2 → ids 1,3,5,7, count 4: id 7 - 1 = 6 is past 4 slices.
  env.set("SLURM_ARRAY_TASK_MIN", "1");
  env.set("SLURM_ARRAY_TASK_COUNT", "4");
  env.set("SLURM_ARRAY_TASK_ID", "7");
  Shard s = auto_shard();
  EXPECT_FALSE(s.ok);
  EXPECT_NE(s.error.find("out of range"), std::string::npos) << s.error;
  EXPECT_NE(s.error.find("SLURM_ARRAY_TASK_ID=7"), std::string::npos) << s.error;
  env.set("SLURM_ARRAY_TASK_ID", "0");  // below MIN
  EXPECT_FALSE(auto_shard().ok);
  env.set("SLURM_ARRAY_TASK_ID", "x");
  EXPECT_FALSE(auto_shard().ok);
  unsetenv("SLURM_ARRAY_TASK_COUNT");
  env.set("SLURM_ARRAY_TASK_ID", "1");
  EXPECT_FALSE(auto_shard().ok);  // no count
  env.clear();
  EXPECT_FALSE(auto_shard().ok);  // no scheduler at all
  int k, n;
  std::string e;
  EXPECT_FALSE(parse_shard("0/4", &k, &n, &e));
  EXPECT_FALSE(parse_shard("5/4", &k, &n, &e));
  EXPECT_FALSE(parse_shard("1/0", &k, &n, &e));
  EXPECT_FALSE(parse_shard("1/4x", &k, &n, &e));
  EXPECT_TRUE(parse_shard("4/4", &k, &n, &e));
}

TEST(BatchShards, KubernetesIndexedJobCountsFromZero) {
  SchedulerEnv env;
  env.set("JOB_COMPLETION_INDEX", "0");
  env.set("JOB_COMPLETIONS", "3");
  Shard s = auto_shard();
  ASSERT_TRUE(s.ok) << s.error;
  EXPECT_EQ(s.k, 1);
  EXPECT_EQ(s.n, 3);
  env.set("JOB_COMPLETION_INDEX", "2");
  EXPECT_EQ(auto_shard().k, 3);
  env.set("JOB_COMPLETION_INDEX", "3");
  Shard out = auto_shard();
  EXPECT_FALSE(out.ok);
  EXPECT_NE(out.error.find("out of range"), std::string::npos);
  // Kubernetes sets no count of its own: MODELVET_SHARDS stands in for JOB_COMPLETIONS.
  unsetenv("JOB_COMPLETIONS");
  env.set("JOB_COMPLETION_INDEX", "1");
  EXPECT_FALSE(auto_shard().ok);
  env.set("MODELVET_SHARDS", "2");
  Shard m = auto_shard();
  ASSERT_TRUE(m.ok) << m.error;
  EXPECT_EQ(m.k, 2);
  EXPECT_EQ(m.n, 2);
  // Both set: the Kubernetes index wins (a Slurm-launched pod is not an array task).
  env.set("SLURM_ARRAY_TASK_ID", "1");
  env.set("SLURM_ARRAY_TASK_COUNT", "9");
  EXPECT_EQ(auto_shard().n, 2);
}

TEST(BatchReclassify, PriorsAndVerdictsGiveTheFiveCounts) {
  nlohmann::json hub_unsafe = {{"status", "unsafe"}}, hub_safe = {{"status", "safe"}};
  nlohmann::json modelscan = {{"scanner", "modelscan"}, {"severity", "CRITICAL"}};
  nlohmann::json picklescan = {{"scanner", "picklescan"}, {"severity", "dangerous"}};
  EXPECT_EQ(prior_stance(hub_unsafe), "flagged");
  EXPECT_EQ(prior_stance({{"status", "suspicious"}}), "flagged");
  EXPECT_EQ(prior_stance(hub_safe), "clean");
  EXPECT_EQ(prior_stance(modelscan), "flagged");
  EXPECT_EQ(prior_stance(picklescan), "flagged");
  EXPECT_EQ(prior_stance({{"flagged", false}}), "clean");
  EXPECT_EQ(prior_stance(nullptr), "");
  EXPECT_EQ(prior_stance({{"status", "queued"}}), "");

  BatchSummary s;
  s.add(res("malicious", hub_unsafe));         // confirmed
  s.add(res("malicious", modelscan));          // confirmed
  s.add(res("benign", picklescan));            // cleared
  s.add(res("suspicious", hub_unsafe));        // needs_human
  s.add(res("malicious", hub_safe));           // newly_found
  s.add(res("malicious", {{"flagged", false}}));  // newly_found
  s.add(res("benign", hub_safe));              // unchanged
  s.add(res("error", modelscan));              // failed
  s.add(res("error", hub_safe));               // failed
  s.add(res("benign", nullptr, true));         // no prior, cached
  s.add(res("malicious"));                     // no prior
  nlohmann::json j = s.to_json();
  EXPECT_EQ(j["files"], 11);
  EXPECT_EQ(j["malicious"], 5);
  EXPECT_EQ(j["benign"], 3);
  EXPECT_EQ(j["suspicious"], 1);
  EXPECT_EQ(j["error"], 2);
  EXPECT_EQ(j["cached"], 1);
  EXPECT_EQ(j["detonated"], 0);  // set by the run (jails started), not derived from lines
  s.set_detonated(7);
  EXPECT_EQ(s.to_json()["detonated"], 7);
  const auto& rc = j["reclassification"];
  EXPECT_EQ(rc["with_prior"], 9);
  EXPECT_EQ(rc["confirmed"], 2);
  EXPECT_EQ(rc["cleared"], 1);
  EXPECT_EQ(rc["needs_human"], 1);
  EXPECT_EQ(rc["newly_found"], 2);
  EXPECT_EQ(rc["unchanged"], 1);
  EXPECT_EQ(rc["failed"], 2);
  std::string line = s.line();
  EXPECT_EQ(line.rfind("11 files: 5 malicious, 1 suspicious, 3 benign, 2 error", 0), 0u) << line;
  EXPECT_NE(line.find("prior: 2 confirmed, 1 cleared, 1 needs_human, 2 newly_found, 2 failed"), std::string::npos) << line;
  EXPECT_EQ(reclassification(hub_unsafe, "benign"), "cleared");
  EXPECT_EQ(reclassification(nullptr, "benign"), "");
}

TEST(BatchResume, OnlyATornLastLineIsDropped) {
  char tmpl[] = "/tmp/mv-resume-XXXXXX";
  fs::path dir = mkdtemp(tmpl);
  fs::path out = dir / "out.jsonl";
  const std::string a = R"({"path":"a","verdict":"benign"})", b = R"({"path":"b","verdict":"malicious"})";
  // A torn last line (no newline, not JSON) is cut off; everything before it stays byte for byte.
  std::ofstream(out, std::ios::binary) << a << "\n" << b << "\n" << R"({"path":"c","verd)";
  ResumeState st = resume_output(out.string());
  EXPECT_TRUE(st.dropped_torn_line);
  EXPECT_EQ(st.done, (std::set<std::string>{"a", "b"}));
  EXPECT_EQ(slurp(out), a + "\n" + b + "\n");

  // A bad line in the middle is not a reason to cut what follows: kept, warned about.
  std::ofstream(out, std::ios::binary) << a << "\n" << "garbage\n" << b << "\n";
  st = resume_output(out.string());
  EXPECT_FALSE(st.dropped_torn_line);
  EXPECT_EQ(st.done, (std::set<std::string>{"a", "b"}));
  EXPECT_EQ(st.warnings.size(), 1u);
  EXPECT_EQ(slurp(out), a + "\n" + "garbage\n" + b + "\n");

  // A complete last result missing only its newline is kept and terminated.
  std::ofstream(out, std::ios::binary) << a << "\n" << b;
  st = resume_output(out.string());
  EXPECT_FALSE(st.dropped_torn_line);
  EXPECT_EQ(st.done.size(), 2u);
  EXPECT_EQ(slurp(out), a + "\n" + b + "\n");
  EXPECT_EQ(st.results.size(), 2u);

  // Missing and empty outputs: nothing done.
  EXPECT_TRUE(resume_output((dir / "missing.jsonl").string()).done.empty());
  std::ofstream(out, std::ios::trunc);
  EXPECT_TRUE(resume_output(out.string()).done.empty());
  fs::remove_all(dir);
}

TEST(BatchJobs, DefaultFromCoresAndMemory) {
  const long GiB = 1L << 30;
  EXPECT_EQ(default_jobs(2, 24 * GiB), 4);    // 2 per core
  EXPECT_EQ(default_jobs(16, 4 * GiB), 5);    // 4 GiB / 768 MiB
  EXPECT_EQ(default_jobs(4, 100L << 20), 1);  // at least one
  EXPECT_EQ(default_jobs(512, 1024 * GiB), 256);
  EXPECT_GE(default_jobs(), 1);
  // Forked from a zygote: 16 per core, 128 MiB a job.
  EXPECT_EQ(default_zygote_jobs(2, 24 * GiB), 32);
  EXPECT_EQ(default_zygote_jobs(16, 2 * GiB), 16);   // 2 GiB / 128 MiB
  EXPECT_EQ(default_zygote_jobs(4, 64L << 20), 1);
  EXPECT_EQ(default_zygote_jobs(64, 1024 * GiB), 256);
}

TEST(BatchProgress, LineShowsCountsRateAndEta) {
  BatchSummary s;
  s.add(res("malicious"));
  s.add(res("benign"));
  std::string line = Progress::render(2, 10, 4.0, s);
  EXPECT_EQ(line, "2/10 files  0.50/s  malicious 1 suspicious 0 benign 1 error 0  ETA 16s");
  EXPECT_NE(Progress::render(0, 10, 1.0, BatchSummary()).find("ETA ?"), std::string::npos);
}

// Fuzzing finding (fuzz/regressions/fuzz_manifest/mentions-not-a-number): a manifest that lists
// one file twice, once with a non-numeric "mentions", made merge_priors throw out of batch.
TEST(BatchPriors, MergeToleratesMentionsOfAnyType) {
  const auto unsafe = nlohmann::json::parse(R"({"status":"unsafe","mentions":"many"})");
  const auto safe = nlohmann::json::parse(R"({"status":"safe"})");
  nlohmann::json merged;
  ASSERT_NO_THROW(merged = merge_priors(unsafe, safe));
  EXPECT_EQ(merged["status"], "unsafe");  // the graver prior wins
  EXPECT_EQ(merged["mentions"], 2);       // a mention each, whatever the field held
  const auto huge = nlohmann::json::parse(R"({"status":"unsafe","mentions":18446744073709551615})");
  const auto negative = nlohmann::json::parse(R"({"status":"unsafe","mentions":-5, "globals":["os.system", 3]})");
  ASSERT_NO_THROW(merged = merge_priors(huge, negative));
  EXPECT_EQ(merged["mentions"], (int64_t(1) << 30) + 1);  // clamped, never overflowing
  EXPECT_EQ(merged["globals"], nlohmann::json::array({"os.system"}));
}
