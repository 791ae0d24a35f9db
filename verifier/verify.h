#pragma once
// Verifies one file: static pre-scan, detonation in a fresh jail under the tracer, trace,
// classification. Safe to call from several threads at once with distinct slots.
#include <string>

#include <nlohmann/json.hpp>

#include "policies/policy.h"
#include "sandbox/limits.h"
#include "trace/trace.h"

namespace modelvet {
class Observer;
class ZygotePool;

struct VerifyOptions {
  std::string loader = "auto";   // or a forced loader id
  int timeout_s = 30;
  int grace_ms = 1500;           // after the load: threads, timers, forked daemons get to run
  std::string trace_dir;         // keep <sha256>.trace.jsonl here when set
  std::string display_path;      // how the report names the file (hf://… in batch), default its path
  sandbox::Limits limits;
  ZygotePool* zygotes = nullptr;  // fork jails from these zygotes (verifier/zygote_pool.h); null: exec afresh
};

class Verifier {
 public:
  // observer may be null: every detonation then fails closed with `error` and observer_error.
  Verifier(policy::Policy policy, Observer* observer, std::string observer_error);
  nlohmann::json verify(const std::string& path, const VerifyOptions& options, int slot) const;
  const policy::Policy& policy() const { return policy_; }

 private:
  policy::Policy policy_;
  Observer* observer_;
  std::string observer_error_;
};

// The host block of the report: kernel release, tracer backend, sandbox kind.
nlohmann::json host_info(const Observer* observer);

}  // namespace modelvet
