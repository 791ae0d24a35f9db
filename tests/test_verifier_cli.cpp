// The CLI contract of SPEC.md, through the real binary: help, version, usage errors, doctor,
// policy lint, formats, and batch (JSON Lines, resume after a torn line, shards, verdict cache).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/detonation_support.h"

using modelvet::testing::assert_jail_is_isolated;


namespace fs = std::filesystem;

namespace {

std::vector<nlohmann::json> jsonl(const std::string& path) {
  std::vector<nlohmann::json> rows;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) rows.push_back(nlohmann::json::parse(line));
  return rows;
}

// Benign pickles (a dict of floats with a tag) for batch runs; nothing malicious here.
fs::path benign_dir(int count) {
  fs::path dir = fs::path(MODELVET_BINARY_DIR) / "cli-test-models";
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (int i = 0; i < count; ++i) {
    std::string tag = "m" + std::to_string(i);
    std::string pickle = std::string("\x80\x02}X\x03\x00\x00\x00", 8) + tag + "K" + std::string(1, char(i)) + "s.";
    std::ofstream(dir / (tag + ".pkl"), std::ios::binary) << pickle;
  }
  return dir;
}

}  // namespace

TEST(Cli, VersionAndHelpForEverySubcommand) {
  auto v = modelvet::testing::run_modelvet("--version");
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_NE(v.out.find("modelvet 0.1.0"), std::string::npos);
  for (const char* cmd : {"scan", "batch", "replay", "doctor", "policy", "policy lint", "db export"}) {
    auto h = modelvet::testing::run_modelvet(std::string(cmd) + " --help");
    EXPECT_EQ(h.exit_code, 0) << cmd;
    EXPECT_NE(h.out.find("Usage"), std::string::npos) << cmd;
  }
}

TEST(Cli, UsageErrorsExitWithTwo) {
  EXPECT_EQ(modelvet::testing::run_modelvet("").exit_code, 2);
  EXPECT_EQ(modelvet::testing::run_modelvet("scan").exit_code, 2);
  EXPECT_EQ(modelvet::testing::run_modelvet("scan --format pdf x").exit_code, 2);
  EXPECT_EQ(modelvet::testing::run_modelvet("scan --loader nonsense x").exit_code, 2);
  EXPECT_EQ(modelvet::testing::run_modelvet("frobnicate").exit_code, 2);
  EXPECT_EQ(modelvet::testing::run_modelvet("batch --shard 5/2 /tmp").exit_code, 2);
}

TEST(Cli, DoctorReportsTheHooksAndTheMode) {
  auto d = modelvet::testing::run_modelvet("doctor --format json");
  auto j = nlohmann::json::parse(d.out);
  EXPECT_EQ(d.exit_code, 0) << d.out;
  EXPECT_TRUE(j["ready"].get<bool>());
  EXPECT_TRUE(j["checks"]["namespaces"]["ok"].get<bool>());
  EXPECT_FALSE(j["tracer"]["active_hooks"].empty());
  EXPECT_NE(j["mode"].get<std::string>().find("ebpf"), std::string::npos);
}

TEST(Cli, PolicyLintAcceptsTheDefaultAndReportsErrorsWithLocations) {
  auto ok = modelvet::testing::run_modelvet(std::string("policy lint ") + MODELVET_SOURCE_DIR + "/policies/default.json");
  EXPECT_EQ(ok.exit_code, 0) << ok.out;
  fs::path bad = fs::path(MODELVET_BINARY_DIR) / "bad-policy.json";
  std::ofstream(bad) << R"({"name": "x", "rules": [{"id": "a.b", "severity": "deadly", "match": {"kind": "exec"}}]})";
  auto b = modelvet::testing::run_modelvet("policy lint " + bad.string());
  EXPECT_EQ(b.exit_code, 2);
  EXPECT_NE(b.out.find("/rules/0/severity"), std::string::npos) << b.out;
}

TEST(Cli, ScanReportsInEveryFormat) {
  assert_jail_is_isolated();
  fs::path dir = benign_dir(1);
  std::string file = (dir / "m0.pkl").string();
  auto json = modelvet::testing::run_modelvet("scan --format json " + file);
  EXPECT_EQ(json.exit_code, 0) << json.out;
  EXPECT_EQ(nlohmann::json::parse(json.out)["results"][0]["verdict"], "benign");
  auto sarif = modelvet::testing::run_modelvet("scan --format sarif " + file);
  EXPECT_EQ(nlohmann::json::parse(sarif.out)["version"], "2.1.0");
  auto html = modelvet::testing::run_modelvet("scan --format html " + file);
  EXPECT_NE(html.out.find("<html"), std::string::npos);
  auto text = modelvet::testing::run_modelvet("scan --format text " + file);
  EXPECT_NE(text.out.find("benign"), std::string::npos);
}

TEST(Cli, BatchWritesJsonLinesResumesShardsAndCaches) {
  assert_jail_is_isolated();
  fs::path dir = benign_dir(4);
  fs::path out = fs::path(MODELVET_BINARY_DIR) / "cli-batch.jsonl";
  fs::path db = fs::path(MODELVET_BINARY_DIR) / "cli-batch.db";
  for (const std::string& f : {out.string(), db.string(), out.string() + ".1", out.string() + ".2"}) fs::remove(f);

  // Shards 1/2 and 2/2 together are the whole set, with no overlap.
  auto s1 = modelvet::testing::run_modelvet("batch --quiet --shard 1/2 --output " + out.string() + " " + dir.string());
  auto s2 = modelvet::testing::run_modelvet("batch --quiet --shard 2/2 --output " + out.string() + " " + dir.string());
  EXPECT_EQ(s1.exit_code, 0);
  EXPECT_EQ(s2.exit_code, 0);
  auto rows = jsonl(out);
  ASSERT_EQ(rows.size(), 4u);
  std::set<std::string> paths;
  for (const auto& r : rows) paths.insert(r["path"].get<std::string>());
  EXPECT_EQ(paths.size(), 4u);

  // A killed run leaves a torn line: --resume drops it and verifies only what is missing.
  std::string keep;
  {
    std::ifstream in(out);
    std::string line;
    std::getline(in, line), keep += line + "\n";
    std::getline(in, line), keep += line + "\n";
  }
  std::ofstream(out, std::ios::trunc) << keep << "{\"path\": \"half-writ";
  auto resumed = modelvet::testing::run_modelvet("batch --quiet --resume --output " + out.string() + " " + dir.string());
  EXPECT_EQ(resumed.exit_code, 0);
  rows = jsonl(out);  // parses every line: nothing torn is left
  EXPECT_EQ(rows.size(), 4u);

  // The verdict cache answers a second run without detonating.
  modelvet::testing::run_modelvet("batch --quiet --db " + db.string() + " --output " + out.string() + ".1 " + dir.string());
  modelvet::testing::run_modelvet("batch --quiet --db " + db.string() + " --output " + out.string() + ".2 " + dir.string());
  auto cached = jsonl(out.string() + ".2");
  ASSERT_EQ(cached.size(), 4u);
  for (const auto& r : cached) EXPECT_TRUE(r.value("cached", false)) << r.dump();
  auto exported = modelvet::testing::run_modelvet("db export --db " + db.string());
  EXPECT_EQ(exported.exit_code, 0);
  EXPECT_TRUE(exported.out.empty());  // nothing malicious in this set
}
