// The SARIF and HTML renderers of the JSON report (mv_reports).
#include <gtest/gtest.h>

#include "policies/reports/reports.h"

namespace modelvet::reports {
namespace {

using nlohmann::json;

json sample_report() {
  json malicious = {
      {"path", "models/evil <script>alert(1)</script>.pt"},
      {"sha256", "ab12"},
      {"size", 1234},
      {"format", "pytorch-zip"},
      {"loader", "torch"},
      {"verdict", "malicious"},
      {"score", 100},
      {"summary", "spawned /bin/sh during load"},
      {"calls", {{{"callable", "posix.system"}, {"args", "'<script>x</script>'"}, {"origin", "pickle REDUCE @ offset 57"}}}},
      {"findings",
       {{{"rule", "process.spawn"}, {"severity", "malicious"}, {"attack", "T1059"}, {"evidence", "spawned sh -c \"<script>alert('x')</script>\" & more"}, {"t_ms", 41}, {"phase", "load"}},
        {{"rule", "evasion.sandbox_probe"}, {"severity", "suspicious"}, {"attack", "T1497"}, {"evidence", "probed /.dockerenv"}, {"t_ms", 12}, {"phase", "load"}}}},
      {"behavior", {{"processes", {{{"pid", 3}, {"ppid", 1}, {"argv", {"/bin/sh", "-c", "<img src=x onerror=alert(1)>"}}}}},
                    {"network", json::array()}, {"dns", {{{"name", "c2.invalid"}, {"type", "A"}}}},
                    {"files", {{"read", {"~/.aws/credentials"}}, {"written", json::array()}, {"deleted", json::array()}}},
                    {"decoys_touched", {"~/.aws/credentials"}}}},
      {"load", {{"status", "raised"}, {"exception", "TypeError: <bad>"}}},
      {"error", nullptr}};
  json benign = {{"path", "models/ok.pt"}, {"verdict", "benign"}, {"score", 0}, {"summary", "nothing outside the benign profile ran"},
                 {"findings", json::array()}, {"sha256", "cd34"}};
  json broken = {{"path", "models/broken.pkl"}, {"verdict", "error"}, {"score", 0}, {"summary", "unreadable pickle file"},
                 {"error", "unreadable pickle file"}, {"findings", json::array()}};
  return {{"tool", {{"name", "modelvet"}, {"version", "0.1.0"}}},
          {"policy", {{"name", "default"}, {"sha256", "ffff"}}},
          {"results", {malicious, benign, broken}},
          {"summary", {{"files", 3}, {"malicious", 1}, {"suspicious", 0}, {"benign", 1}, {"error", 1}}}};
}

TEST(Sarif, HasTheRequiredStructure) {
  json sarif = json::parse(to_sarif(sample_report()));
  EXPECT_EQ(sarif["version"], "2.1.0");
  EXPECT_TRUE(sarif["$schema"].is_string());
  ASSERT_EQ(sarif["runs"].size(), 1u);
  const json& run = sarif["runs"][0];
  EXPECT_EQ(run["tool"]["driver"]["name"], "modelvet");
  const json& rules = run["tool"]["driver"]["rules"];
  ASSERT_TRUE(rules.is_array());
  for (const auto& r : rules) {
    EXPECT_TRUE(r["id"].is_string());
    EXPECT_TRUE(r["shortDescription"]["text"].is_string());
  }
  const json& results = run["results"];
  ASSERT_EQ(results.size(), 3u);  // two findings + the benign note; the error is a notification
  for (const auto& r : results) {
    ASSERT_TRUE(r["message"]["text"].is_string());
    ASSERT_TRUE(r["ruleId"].is_string());
    size_t idx = r["ruleIndex"].get<size_t>();
    ASSERT_LT(idx, rules.size());
    EXPECT_EQ(rules[idx]["id"], r["ruleId"]);
    EXPECT_TRUE(r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].is_string());
  }
  EXPECT_EQ(results[0]["ruleId"], "process.spawn");
  EXPECT_EQ(results[0]["level"], "error");
  EXPECT_EQ(results[1]["level"], "warning");
  EXPECT_EQ(results[2]["level"], "note");
  EXPECT_EQ(results[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "models/evil%20%3Cscript%3Ealert(1)%3C/script%3E.pt");
  const json& invocation = run["invocations"][0];
  EXPECT_FALSE(invocation["executionSuccessful"].get<bool>());
  ASSERT_EQ(invocation["toolExecutionNotifications"].size(), 1u);
  EXPECT_EQ(invocation["toolExecutionNotifications"][0]["level"], "error");
}

TEST(Sarif, ToleratesAnEmptyReport) {
  json sarif = json::parse(to_sarif(json::object()));
  EXPECT_EQ(sarif["runs"][0]["results"].size(), 0u);
  EXPECT_TRUE(sarif["runs"][0]["invocations"][0]["executionSuccessful"].get<bool>());
}

TEST(Html, EscapesEveryHostileString) {
  std::string html = to_html(sample_report());
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_EQ(html.find("<script"), std::string::npos) << "no raw <script> anywhere";
  EXPECT_EQ(html.find("<img"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(html.find("&quot;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&quot; &amp; more"), std::string::npos);
  EXPECT_NE(html.find("&lt;img src=x onerror=alert(1)&gt;"), std::string::npos);
  EXPECT_NE(html.find("<style>"), std::string::npos) << "inline CSS";
  EXPECT_EQ(html.find("<link"), std::string::npos) << "self-contained";
}

TEST(Html, ShowsResultsTimelineAndBehaviour) {
  std::string html = to_html(sample_report());
  for (const char* expected : {"models/ok.pt", "models/broken.pkl", "unreadable pickle file", "process.spawn", "T1059",
                               "c2.invalid", "~/.aws/credentials", "posix.system", "Timeline"})
    EXPECT_NE(html.find(expected), std::string::npos) << expected;
  // The timeline is in time order: the probe at 12 ms before the spawn at 41 ms.
  EXPECT_LT(html.find("probed /.dockerenv"), html.find("spawned sh"));
}

TEST(Html, ToleratesUnexpectedShapes) {
  json odd = {{"results", {{{"path", 5}, {"verdict", nullptr}, {"findings", "none"}, {"behavior", {{"files", 3}}}}}}};
  std::string html;
  EXPECT_NO_THROW(html = to_html(odd));
  EXPECT_NE(html.find("error"), std::string::npos);
}

}  // namespace
}  // namespace modelvet::reports
