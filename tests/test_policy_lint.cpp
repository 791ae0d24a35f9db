// policy lint: every mistake is reported with the JSON pointer of where it is.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "policies/policy.h"

namespace modelvet::policy {
namespace {

using nlohmann::json;

json minimal_rule(const std::string& id = "process.spawn") {
  return {{"id", id}, {"severity", "malicious"}, {"attack", "T1059"},
          {"match", {{"source", "kernel"}, {"kind", "exec"}}}, {"explain", "spawned {filename}"}};
}

json minimal_policy() { return {{"name", "test"}, {"version", "1"}, {"rules", {minimal_rule()}}}; }

bool has_issue(const std::vector<LintIssue>& issues, const std::string& where, const std::string& fragment) {
  for (const auto& i : issues)
    if (i.where == where && i.message.find(fragment) != std::string::npos) return true;
  return false;
}

std::string dump(const std::vector<LintIssue>& issues) {
  std::string out;
  for (const auto& i : issues) out += "[" + i.where + "] " + i.message + "\n";
  return out;
}

TEST(PolicyLint, DefaultPolicyLintsClean) {
  Policy p = default_policy();
  EXPECT_EQ(p.name, "default");
  EXPECT_EQ(p.sha256.size(), 64u);
  auto issues = lint(p.doc);
  EXPECT_TRUE(issues.empty()) << dump(issues);
}

TEST(PolicyLint, InstalledDefaultFileMatchesTheEmbeddedOne) {
  std::vector<LintIssue> issues;
  auto from_file = load_policy(std::string(MODELVET_SOURCE_DIR) + "/policies/default.json", &issues);
  ASSERT_TRUE(from_file) << dump(issues);
  EXPECT_EQ(from_file->sha256, default_policy().sha256);
}

TEST(PolicyLint, MinimalPolicyIsValid) { EXPECT_TRUE(lint(minimal_policy()).empty()) << dump(lint(minimal_policy())); }

TEST(PolicyLint, UnknownKeysAreReportedWhereTheyAre) {
  json p = minimal_policy();
  p["rulez"] = json::array();
  p["rules"][0]["severty"] = "info";
  p["rules"][0]["match"]["knd"] = "exec";
  auto issues = lint(p);
  EXPECT_TRUE(has_issue(issues, "/rulez", "unknown key")) << dump(issues);
  EXPECT_TRUE(has_issue(issues, "/rules/0/severty", "unknown key")) << dump(issues);
  EXPECT_TRUE(has_issue(issues, "/rules/0/match/knd", "unknown key")) << dump(issues);
}

TEST(PolicyLint, BadSeverityAndAttackId) {
  json p = minimal_policy();
  p["rules"][0]["severity"] = "critical";
  p["rules"][0]["attack"] = "1059";
  auto issues = lint(p);
  EXPECT_TRUE(has_issue(issues, "/rules/0/severity", "critical")) << dump(issues);
  EXPECT_TRUE(has_issue(issues, "/rules/0/attack", "ATT&CK")) << dump(issues);
}

TEST(PolicyLint, BadRegexGlobAndCidr) {
  json p = minimal_policy();
  p["rules"][0]["match"]["fields"] = {{"argv", {{"regex", "(unclosed"}}},
                                      {"filename", {{"glob", "/usr/{bin,lib"}}}};
  json net = minimal_rule("network.connect");
  net["match"] = {{"source", "kernel"}, {"kind", "connect"},
                  {"fields", {{"addr", {{"any_of", {{{"cidr", "10.0.0.0/33"}}, {{"cidr", "fe80::/129"}}, {{"cidr", "not-an-ip"}}}}}}}}};
  p["rules"].push_back(net);
  auto issues = lint(p);
  EXPECT_TRUE(has_issue(issues, "/rules/0/match/fields/argv/regex", "bad regex")) << dump(issues);
  EXPECT_TRUE(has_issue(issues, "/rules/0/match/fields/filename/glob", "bad glob")) << dump(issues);
  EXPECT_TRUE(has_issue(issues, "/rules/1/match/fields/addr/any_of/0/cidr", "bad CIDR")) << dump(issues);
  EXPECT_TRUE(has_issue(issues, "/rules/1/match/fields/addr/any_of/1/cidr", "bad CIDR")) << dump(issues);
  EXPECT_TRUE(has_issue(issues, "/rules/1/match/fields/addr/any_of/2/cidr", "bad CIDR")) << dump(issues);
}

TEST(PolicyLint, MissingAndDuplicateIds) {
  json p = minimal_policy();
  json no_id = minimal_rule();
  no_id.erase("id");
  p["rules"].push_back(no_id);
  p["rules"].push_back(minimal_rule());
  p["allow"] = {{{"id", "process.spawn"}, {"match", {{"phase", "setup"}}}}};
  auto issues = lint(p);
  EXPECT_TRUE(has_issue(issues, "/rules/1", "missing \"id\"")) << dump(issues);
  EXPECT_TRUE(has_issue(issues, "/rules/2/id", "duplicate id")) << dump(issues);
  EXPECT_TRUE(has_issue(issues, "/rules/0/id", "duplicate id")) << "allow ids share the namespace:\n" << dump(issues);
}

TEST(PolicyLint, UnknownKindsFieldsPhasesAndMatchers) {
  json p = minimal_policy();
  p["rules"][0]["match"] = {{"source", "kernal"}, {"kind", {"exec", "spawn"}}, {"phase", {"load", "later"}},
                            {"fields", {{"filname", {{"glob", "*"}}}, {"argv", {{"like", "x"}}}}}};
  auto issues = lint(p);
  EXPECT_TRUE(has_issue(issues, "/rules/0/match/source", "unknown source")) << dump(issues);
  EXPECT_TRUE(has_issue(issues, "/rules/0/match/kind", "\"spawn\"")) << dump(issues);
  EXPECT_TRUE(has_issue(issues, "/rules/0/match/phase", "\"later\"")) << dump(issues);
  EXPECT_TRUE(has_issue(issues, "/rules/0/match/fields/filname", "no event of kind")) << dump(issues);
  EXPECT_TRUE(has_issue(issues, "/rules/0/match/fields/argv/like", "unknown matcher")) << dump(issues);
}

TEST(PolicyLint, TemplatesMacrosChecksAndScore) {
  json p = minimal_policy();
  p["rules"][0]["explain"] = "spawned {file name";
  p["rules"][0]["match"] = {{"macro", "nope"}};
  p["macros"] = {{"loop", {{"macro", "loop"}}}};
  p["checks"] = {{"exfiltration", {{"severity", "bad"}}}, {"telepathy", json::object()}};
  p["score"] = {{"malicious", "lots"}};
  auto issues = lint(p);
  EXPECT_TRUE(has_issue(issues, "/rules/0/explain", "template")) << dump(issues);
  EXPECT_TRUE(has_issue(issues, "/rules/0/match/macro", "undefined macro")) << dump(issues);
  EXPECT_TRUE(has_issue(issues, "/macros/loop", "nest too deep")) << dump(issues);
  EXPECT_TRUE(has_issue(issues, "/checks/exfiltration/severity", "\"bad\"")) << dump(issues);
  EXPECT_TRUE(has_issue(issues, "/checks/telepathy", "unknown check")) << dump(issues);
  EXPECT_TRUE(has_issue(issues, "/score/malicious", "integer")) << dump(issues);
}

TEST(PolicyLint, PointerTokensAreEscaped) {
  json p = minimal_policy();
  p["rules"][0]["match"]["fields"] = {{"a/b~c", 1}};
  auto issues = lint(p);
  EXPECT_TRUE(has_issue(issues, "/rules/0/match/fields/a~1b~0c", "no event")) << dump(issues);
}

TEST(PolicyLint, LoadPolicyRejectsBrokenFilesAndHashesCanonically) {
  std::string dir = ::testing::TempDir();
  std::vector<LintIssue> issues;
  EXPECT_FALSE(load_policy(dir + "/does-not-exist.json", &issues));
  EXPECT_FALSE(issues.empty());

  issues.clear();
  std::ofstream(dir + "/broken.json") << "{\"name\": ";
  EXPECT_FALSE(load_policy(dir + "/broken.json", &issues));
  ASSERT_FALSE(issues.empty());
  EXPECT_NE(issues[0].message.find("not valid JSON"), std::string::npos);

  // The same document, formatted differently and keys reordered: the same hash.
  std::ofstream(dir + "/a.json") << minimal_policy().dump();
  std::ofstream(dir + "/b.json") << minimal_policy().dump(4);
  auto a = load_policy(dir + "/a.json", nullptr);
  auto b = load_policy(dir + "/b.json", nullptr);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->sha256, b->sha256);
  EXPECT_NE(a->sha256, default_policy().sha256);
}

}  // namespace
}  // namespace modelvet::policy
