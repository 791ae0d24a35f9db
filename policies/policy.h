#pragma once
// The policy engine: a JSON policy (policies/README.md) turns a trace's events into findings
// and a verdict. Pure and deterministic: no I/O in evaluate(), the same events and policy
// always give the same verdict, and a Policy may be shared by concurrent evaluations.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "trace/event.h"

namespace modelvet::policy {

struct CompiledPolicy;  // rules with their regexes, globs and CIDRs parsed once (compiler.h)

struct Policy {
  std::string name;
  std::string sha256;  // of the canonical bytes: the document re-serialised compactly, keys sorted
  nlohmann::json doc;
  std::shared_ptr<const CompiledPolicy> compiled;
};

struct LintIssue {
  std::string where;  // JSON pointer into the policy document, "" for the whole document
  std::string message;
};

// nullopt on any error (unreadable, not JSON, or any lint issue); *issues says why.
std::optional<Policy> load_policy(const std::string& path, std::vector<LintIssue>* issues);
// Parses and compiles policy text (load_policy minus the file read).
std::optional<Policy> parse_policy(const std::string& text, std::vector<LintIssue>* issues);
// The built-in default (policies/default.json, embedded at build time).
Policy default_policy();
// Every problem in a policy document; empty when it is valid.
std::vector<LintIssue> lint(const nlohmann::json& doc);

// What the supervisor knows beside the events.
struct Context {
  int harness_pid = 0;               // host pid of the harness: its own first exec is not a spawn
  std::string home = "/home/alice";  // the decoy home, what "~" means in globs
  std::string scratch = "/tmp";      // what "$SCRATCH" means in globs
  std::string model_path;            // the file under test, what "$MODEL" means in globs
  std::map<std::string, std::string> decoy_secrets;  // where planted ("~/.aws/credentials", "env HF_TOKEN") → value
  std::vector<std::string> decoy_files;              // jail paths ("/home/alice/.aws/credentials" or "~/…")
  uint64_t dropped = 0;              // events the tracer lost
  bool load_reached = false;
  bool timed_out = false;
};

struct Finding {
  std::string rule, severity, attack, evidence;
  uint64_t t_ms = 0;  // ms since the first event
  std::string phase;
  nlohmann::json event;  // the event that triggered it (null for findings about the whole run)
};

struct Verdict {
  std::string verdict;  // malicious | suspicious | benign (never "error": that is the caller's)
  int score = 0;
  std::string summary;  // one sentence: "spawned /bin/sh and connected to 127.0.0.1:4444 during load"
  std::vector<Finding> findings;  // time order, one per (rule, evidence), at most kMaxFindings (+1 note)
};

inline constexpr size_t kMaxFindings = 50;

Verdict evaluate(const Policy& policy, const Events& events, const Context& context);

}  // namespace modelvet::policy
