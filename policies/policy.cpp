// Loading, linting and the built-in default policy.
#include "policies/policy.h"

#include <openssl/evp.h>
#include <fmt/core.h>

#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

#include "policies/compiler.h"
#include "policies/default_policy_json.h"  // generated at build time from policies/default.json

namespace modelvet::policy {
namespace {

std::string sha256_hex(const std::string& bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &len, EVP_sha256(), nullptr);
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) hex += fmt::format("{:02x}", digest[i]);
  return hex;
}

std::vector<LintIssue> dedupe(std::vector<LintIssue> issues) {
  std::vector<LintIssue> out;
  std::set<std::pair<std::string, std::string>> seen;  // a broken macro is reported once, not per use
  for (auto& i : issues)
    if (seen.insert({i.where, i.message}).second) out.push_back(std::move(i));
  return out;
}

}  // namespace

std::vector<LintIssue> lint(const nlohmann::json& doc) {
  std::vector<LintIssue> issues;
  compile_policy(doc, &issues);
  return dedupe(std::move(issues));
}

std::optional<Policy> parse_policy(const std::string& text, std::vector<LintIssue>* issues) {
  std::vector<LintIssue> local;
  if (!issues) issues = &local;
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    issues->push_back({"", fmt::format("not valid JSON: {}", e.what())});
    return std::nullopt;
  }
  std::vector<LintIssue> found;
  auto compiled = std::make_shared<const CompiledPolicy>(compile_policy(doc, &found));
  found = dedupe(std::move(found));
  if (!found.empty()) {
    issues->insert(issues->end(), found.begin(), found.end());
    return std::nullopt;
  }
  Policy p;
  p.name = doc.value("name", "");
  // Canonical bytes: compact, keys sorted (nlohmann::json keeps objects sorted), so the hash
  // names the policy's meaning, not its whitespace.
  p.sha256 = sha256_hex(doc.dump());
  p.doc = std::move(doc);
  p.compiled = std::move(compiled);
  return p;
}

std::optional<Policy> load_policy(const std::string& path, std::vector<LintIssue>* issues) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (issues) issues->push_back({"", fmt::format("cannot read {}", path)});
    return std::nullopt;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parse_policy(text.str(), issues);
}

Policy default_policy() {
  static const Policy built_in = [] {
    std::vector<LintIssue> issues;
    auto p = parse_policy(std::string(reinterpret_cast<const char*>(kDefaultPolicyJson), kDefaultPolicyJsonSize), &issues);
    if (!p) {
      std::string why;
      for (const auto& i : issues) why += fmt::format("\n  {}: {}", i.where, i.message);
      throw std::logic_error("the built-in policy is invalid:" + why);  // caught by the test suite, never shipped
    }
    return *p;
  }();
  return built_in;
}

}  // namespace modelvet::policy
