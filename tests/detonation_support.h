#pragma once
// Shared by the tests that run the real binary on samples: running a command, and the safety
// check every detonating test makes first (the jail has its own network namespace, only lo).
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include "sandbox/jail.h"

namespace modelvet::testing {

inline const std::string kBinary = std::string(MODELVET_BINARY_DIR) + "/modelvet";

struct CommandRun {
  int exit_code = -1;
  std::string out;  // stdout only
};

inline CommandRun run_command(const std::string& cmd) {
  CommandRun r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// modelvet's own arguments; stderr (progress, diagnostics) is dropped.
inline CommandRun run_modelvet(const std::string& args) { return run_command(kBinary + " " + args + " 2>/dev/null"); }

// A protocol-0 pickle whose one call is builtins.exec(code) (newlines as \u000a in its V string).
inline std::string exec_pickle(const std::string& code) {
  std::string escaped;
  for (char c : code) escaped += c == '\n' ? std::string("\\u000a") : std::string(1, c);
  return "cbuiltins\nexec\n(V" + escaped + "\ntR.";
}

// `modelvet scan --format json` of one sample under one tracer backend, its trace kept in
// trace_dir: the parsed document (discarded when the output was not JSON) and the raw output.
inline std::pair<nlohmann::json, std::string> scan_with_tracer(const std::string& tracer, const std::string& trace_dir,
                                                               const std::string& sample) {
  auto run = run_modelvet(fmt::format("scan --format json --tracer {} --grace-ms 300 --trace-dir {} {}", tracer, trace_dir, sample));
  return {nlohmann::json::parse(run.out, nullptr, false), run.out};
}

// A jail built the way every detonation's is must have its own netns with no route out.
inline void assert_jail_is_isolated() {
  sandbox::JailConfig cfg;
  cfg.model_path = kBinary;
  cfg.exe_path = "/bin/true";
  sandbox::NetnsView view;
  auto out = sandbox::run_jail(cfg, [&](const sandbox::JailHandle& h, std::string*) {
    view = h.netns;
    return view.isolated();
  });
  ASSERT_TRUE(out.ran) << out.error;
  ASSERT_TRUE(view.isolated()) << "jail network namespace has a route out: refusing to detonate";
}

// The rows of a corpus's manifest.jsonl (file, label, technique, format, ...).
inline std::vector<nlohmann::json> read_manifest(const std::string& dir) {
  std::vector<nlohmann::json> rows;
  std::ifstream in(dir + "/manifest.jsonl");
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) rows.push_back(nlohmann::json::parse(line));
  return rows;
}

// label → verdict → count, printed as the confusion matrix of a corpus run.
using ConfusionMatrix = std::map<std::string, std::map<std::string, int>>;

inline std::string confusion_table(ConfusionMatrix matrix) {
  const std::vector<std::string> verdicts = {"malicious", "suspicious", "benign", "error", "missing"};
  std::string table = fmt::format("{:<12}", "label\\got");
  for (const auto& v : verdicts) table += fmt::format("{:>12}", v);
  table += "\n";
  for (const std::string label : {"malicious", "suspicious", "benign"}) {
    table += fmt::format("{:<12}", label);
    for (const auto& v : verdicts) table += fmt::format("{:>12}", matrix[label][v]);
    table += "\n";
  }
  return table;
}

// A scan's results against a manifest: the confusion matrix, and each (manifest row, result)
// whose verdict is not the label (result null when the file is missing from the scan).
struct LabelCheck {
  ConfusionMatrix matrix;
  std::vector<std::pair<nlohmann::json, nlohmann::json>> mismatches;
};

inline LabelCheck check_labels(const std::vector<nlohmann::json>& rows, const nlohmann::json& scan_doc,
                               const std::string& root) {
  std::map<std::string, nlohmann::json> by_file;
  for (const auto& res : scan_doc["results"])
    by_file[std::filesystem::relative(res["path"].get<std::string>(), root).string()] = res;
  LabelCheck check;
  for (const auto& row : rows) {
    std::string label = row["label"];
    auto it = by_file.find(row["file"].get<std::string>());
    nlohmann::json result = it == by_file.end() ? nlohmann::json() : it->second;
    std::string got = result.is_null() ? "missing" : result.value("verdict", "missing");
    check.matrix[label][got]++;
    if (got != label) check.mismatches.emplace_back(row, result);
  }
  return check;
}

}  // namespace modelvet::testing
