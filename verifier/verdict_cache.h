#pragma once
// The batch verdict cache (SQLite): a file seen before, under the same policy and modelvet
// version, is answered from it instead of being detonated again.
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

struct sqlite3;

namespace modelvet {

class VerdictCache {
 public:
  static std::unique_ptr<VerdictCache> open(const std::string& path, std::string* error);
  ~VerdictCache();
  // The cached result for this file's content, re-labelled with display_path; null when unknown.
  nlohmann::json lookup(const std::string& file_path, const std::string& display_path, const std::string& policy_sha256);
  // Stores a result (never an `error`: those are worth retrying).
  void store(const nlohmann::json& result, const std::string& policy_sha256);
  // {"sha256", "path", "summary", "policy_sha256", "version"} of every malicious result.
  std::vector<nlohmann::json> known_malicious();

 private:
  explicit VerdictCache(sqlite3* db) : db_(db) {}
  sqlite3* db_;
  std::mutex mu_;
};

}  // namespace modelvet
