#include "trace/event.h"
#include "verifier/verdict_cache.h"

#include <sqlite3.h>

#include <fmt/core.h>

#include "verifier/file_info.h"

namespace modelvet {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS verdicts (
  sha256 TEXT NOT NULL,
  policy_sha256 TEXT NOT NULL,
  version TEXT NOT NULL,
  verdict TEXT NOT NULL,
  path TEXT,
  result TEXT NOT NULL,
  created_at TEXT DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (sha256, policy_sha256, version)
);)sql";

// RAII for a prepared statement.
struct Statement {
  sqlite3_stmt* s = nullptr;
  Statement(sqlite3* db, const char* sql) { sqlite3_prepare_v2(db, sql, -1, &s, nullptr); }
  ~Statement() { sqlite3_finalize(s); }
  void bind(int i, const std::string& v) { sqlite3_bind_text(s, i, v.c_str(), -1, SQLITE_TRANSIENT); }
  std::string text(int i) {
    auto p = sqlite3_column_text(s, i);
    return p ? reinterpret_cast<const char*>(p) : "";
  }
};

}  // namespace

std::unique_ptr<VerdictCache> VerdictCache::open(const std::string& path, std::string* error) {
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) {
    *error = fmt::format("cannot open verdict cache {}: {}", path, db ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_close(db);
    return nullptr;
  }
  char* msg = nullptr;
  if (sqlite3_exec(db, kSchema, nullptr, nullptr, &msg) != SQLITE_OK ||
      sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=5000;", nullptr, nullptr, nullptr) != SQLITE_OK) {
    *error = fmt::format("verdict cache {}: {}", path, msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    sqlite3_close(db);
    return nullptr;
  }
  return std::unique_ptr<VerdictCache>(new VerdictCache(db));
}

VerdictCache::~VerdictCache() { sqlite3_close(db_); }

nlohmann::json VerdictCache::lookup(const std::string& file_path, const std::string& display_path,
                                    const std::string& policy_sha256) {
  FileInfo info = inspect_file(file_path);
  if (!info.error.empty()) return nullptr;
  std::lock_guard<std::mutex> lock(mu_);
  Statement st(db_, "SELECT result FROM verdicts WHERE sha256=? AND policy_sha256=? AND version=?");
  st.bind(1, info.sha256);
  st.bind(2, policy_sha256);
  st.bind(3, MODELVET_VERSION);
  if (sqlite3_step(st.s) != SQLITE_ROW) return nullptr;
  nlohmann::json r = nlohmann::json::parse(st.text(0), nullptr, false);
  if (r.is_discarded()) return nullptr;
  r["path"] = display_path;
  r["cached"] = true;
  return r;
}

void VerdictCache::store(const nlohmann::json& r, const std::string& policy_sha256) {
  std::string verdict = str_field(r, "verdict", "error");
  if (verdict == "error" || str_field(r, "sha256").empty()) return;
  std::lock_guard<std::mutex> lock(mu_);
  Statement st(db_, "INSERT OR REPLACE INTO verdicts (sha256, policy_sha256, version, verdict, path, result) VALUES (?,?,?,?,?,?)");
  st.bind(1, str_field(r, "sha256"));
  st.bind(2, policy_sha256);
  st.bind(3, MODELVET_VERSION);
  st.bind(4, verdict);
  st.bind(5, str_field(r, "path"));
  st.bind(6, r.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  sqlite3_step(st.s);
}

std::vector<nlohmann::json> VerdictCache::known_malicious() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<nlohmann::json> rows;
  Statement st(db_, "SELECT sha256, path, policy_sha256, version, result FROM verdicts WHERE verdict='malicious' ORDER BY sha256");
  while (sqlite3_step(st.s) == SQLITE_ROW) {
    nlohmann::json r = nlohmann::json::parse(st.text(4), nullptr, false);
    rows.push_back({{"sha256", st.text(0)}, {"path", st.text(1)}, {"policy_sha256", st.text(2)}, {"version", st.text(3)},
                    {"summary", r.is_discarded() ? "" : str_field(r, "summary")}});
  }
  return rows;
}

}  // namespace modelvet
