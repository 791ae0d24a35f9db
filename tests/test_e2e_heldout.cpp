// End to end on samples that are not in the repository: corpus/heldout.py writes a fresh set
// (techniques and variants the regression corpus does not contain, randomised by a seed taken
// from the clock) and the real binary verifies it through the real jail and eBPF tracer. Prints
// the seed and a confusion matrix; fails on each sample whose verdict differs from its label.
// Reproduce a failure with MODELVET_HELDOUT_SEED=<seed>.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>

#include <fmt/core.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/detonation_support.h"

namespace fs = std::filesystem;
using modelvet::testing::assert_jail_is_isolated;
using modelvet::testing::kBinary;
using modelvet::testing::run_command;

namespace {

const std::string kGenerator = std::string(MODELVET_SOURCE_DIR) + "/corpus/heldout.py";
const std::string kOut = std::string(MODELVET_BINARY_DIR) + "/heldout";
const std::string kPython = "/usr/bin/python3";  // Debian's: it has torch, joblib, dill, h5py…

uint32_t heldout_seed() {
  if (const char* fixed = std::getenv("MODELVET_HELDOUT_SEED"); fixed && *fixed) return std::stoul(fixed);
  auto now = std::chrono::system_clock::now().time_since_epoch();
  return static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::microseconds>(now).count() % 1000000007);
}

}  // namespace

TEST(EndToEnd, HeldOutSamplesVerdictsMatchLabels) {
  assert_jail_is_isolated();
  const uint32_t seed = heldout_seed();
  std::cout << "held-out seed " << seed << " (reproduce: MODELVET_HELDOUT_SEED=" << seed << ")" << std::endl;
  RecordProperty("heldout_seed", std::to_string(seed));

  // Generating only assembles bytes and serializes harmless objects: nothing is loaded here.
  auto gen = run_command(fmt::format("{} {} --out {} --seed {} 2>&1", kPython, kGenerator, kOut, seed));
  ASSERT_EQ(gen.exit_code, 0) << gen.out;
  std::cout << gen.out;
  auto rows = modelvet::testing::read_manifest(kOut);
  int malicious = 0, benign = 0;
  for (const auto& r : rows) {
    malicious += r["label"] == "malicious";
    benign += r["label"] == "benign";
  }
  ASSERT_GE(malicious, 20);
  ASSERT_GE(benign, 10);

  const std::string traces = kOut + "/traces";
  fs::remove_all(traces);
  auto scan = run_command(fmt::format("{} scan --format json --jobs 2 --timeout 60 --trace-dir {} {}/samples 2>/dev/null",
                                    kBinary, traces, kOut));
  auto doc = nlohmann::json::parse(scan.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << scan.out.substr(0, 2000);
  auto check = modelvet::testing::check_labels(rows, doc, kOut);
  std::vector<std::string> wrong;
  for (const auto& [row, result] : check.mismatches)
    wrong.push_back(fmt::format("seed {} {} [{} / {}]: expected {}, got {} — {}\n  sample: {}\n  trace: {}/{}.trace.jsonl",
                                seed, row.value("file", ""), row.value("technique", ""), row.value("format", ""),
                                row.value("label", ""), result.is_null() ? "missing" : result.value("verdict", ""),
                                result.is_null() ? "" : result.value("summary", ""), row.value("description", ""),
                                traces, result.is_null() ? "" : result.value("sha256", "")));
  std::cout << "\n" << modelvet::testing::confusion_table(check.matrix) << std::endl;
  for (const auto& w : wrong) ADD_FAILURE() << w;
  EXPECT_EQ(scan.exit_code, 1);  // malicious files present

  // Payloads wrote their markers inside the jail's /tmp, never the host's.
  for (auto& entry : fs::directory_iterator("/tmp"))
    EXPECT_EQ(entry.path().filename().string().rfind("mv_heldout", 0), std::string::npos) << entry.path();
}
