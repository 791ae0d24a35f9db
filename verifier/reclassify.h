#pragma once
// What modelvet's verdict did to another scanner's verdict (the `prior`), and the batch summary.
#include <map>
#include <string>

#include <nlohmann/json.hpp>

namespace modelvet {

// "flagged" when the prior called the file unsafe (Hub status unsafe/suspicious, any modelscan
// issue, a picklescan dangerous/suspicious import, {"flagged": true}); "clean" when it vouched for
// it (Hub safe/innocuous, {"flagged": false}); "" when there is no prior or it says neither.
std::string prior_stance(const nlohmann::json& prior);

// flagged → malicious: confirmed, → benign: cleared, → suspicious: needs_human, → error: failed;
// clean → malicious: newly_found, → suspicious: newly_suspicious, → benign: unchanged, → error:
// failed; "" when the prior has no stance.
std::string reclassification(const nlohmann::json& prior, const std::string& verdict);

// Counts of a batch run, for the closing stderr line and the {"summary": …} document.
class BatchSummary {
 public:
  void add(const nlohmann::json& result);  // one result line (verdict, prior, cached)
  void set_skipped(const std::string& why, size_t n) { skipped_[why] = n; }
  void set_interrupted(const std::string& signal) { interrupted_ = signal; }
  void set_detonated(size_t n) { detonated_ = n; }  // jails run by this run (one per content group)
  size_t files() const { return files_; }
  int count(const std::string& verdict) const;
  nlohmann::json to_json() const;
  // "N files: a malicious, b suspicious, c benign, d error (…); prior: …"
  std::string line() const;

 private:
  size_t files_ = 0, cached_ = 0, with_prior_ = 0, detonated_ = 0;
  std::map<std::string, int> verdicts_, reclass_;
  std::map<std::string, size_t> skipped_;
  std::string interrupted_;
};

}  // namespace modelvet
