// Cause attribution (policies/attribution.h, issue #15): what an installed library does on its
// own inside a harness library window is context; what the file does is a finding; anything
// the markers do not vouch for is the file's.
#include <gtest/gtest.h>

#include "policies/attribution.h"
#include "tests/test_policy_support.h"

namespace modelvet::policy {
namespace {

using testing::context;
using testing::find_rule;
using testing::kHarnessPid;
using testing::rules_of;
using testing::Trace;

Verdict run(const Trace& t) { return evaluate(default_policy(), t.events(), context()); }

Trace& begin(Trace& t, int seq, const std::string& cause = "library", const std::string& reason = "import pandas",
             bool main = true) {
  return t.python("cause", {{"state", "begin"}, {"cause", cause}, {"reason", reason}, {"seq", seq}, {"main_thread", main}});
}
Trace& end(Trace& t, int seq, const std::string& cause = "library") {
  return t.python("cause", {{"state", "end"}, {"cause", cause}, {"seq", seq}});
}
Trace& load_ok(Trace& t, int windows) {
  return t.python("load", {{"status", "ok"}, {"loader", "pickle"}, {"cause_windows", windows}});
}

// pandas' import forks, the child execs `uname -p`; joblib opens its semaphore.
Trace& library_startup(Trace& t) {
  t.kernel("fork", {{"child_pid", 5001}, {"ppid", 1}});
  t.kernel("exec", {{"filename", "/usr/bin/uname"}, {"argv", {"uname", "-p"}}, {"ppid", kHarnessPid}, {"ret", 0}}, 5001);
  t.kernel("open", {{"path", "/dev/shm/sem.abc123"}, {"flags_str", "O_RDWR|O_CREAT|O_EXCL"}, {"ret", 9}});
  return t;
}

TEST(Attribution, LibraryStartupInsideAWindowIsContextNotAFinding) {
  Trace t;
  begin(t, 1);
  library_startup(t);
  end(t, 1);
  load_ok(t, 1).phase("exercise").phase("grace").phase("shutdown");
  Verdict v = run(t);
  EXPECT_EQ(v.verdict, "benign") << rules_of(v);
  const Finding* f = find_rule(v, "context.process.spawn");
  ASSERT_NE(f, nullptr) << rules_of(v);
  EXPECT_EQ(f->severity, "info");
  EXPECT_NE(f->evidence.find("library (import pandas)"), std::string::npos) << f->evidence;
  EXPECT_EQ(f->event.value("cause", ""), "library");
}

TEST(Attribution, TheSameEventsOutsideAWindowAreTheFiles) {
  Trace t;
  library_startup(t);
  load_ok(t, 0);
  Verdict v = run(t);
  EXPECT_EQ(v.verdict, "malicious") << rules_of(v);
  ASSERT_NE(find_rule(v, "process.spawn"), nullptr);
  EXPECT_EQ(find_rule(v, "process.spawn")->event.value("cause", ""), "file");
}

TEST(Attribution, AFileWindowNestedInALibraryOneIsTheFiles) {
  Trace t;
  begin(t, 1);
  begin(t, 2, "file", "REDUCE posix.system");
  library_startup(t);
  end(t, 2, "file");
  end(t, 1);
  load_ok(t, 2);
  EXPECT_EQ(run(t).verdict, "malicious");
}

TEST(Attribution, AnotherThreadDuringALibraryWindowIsTheFiles) {
  Trace t;
  begin(t, 1);
  t.kernel("open", {{"path", "/home/alice/.bashrc"}, {"flags_str", "O_WRONLY|O_APPEND"}, {"ret", 9}, {"tid", 4300}});
  end(t, 1);
  load_ok(t, 1);
  EXPECT_EQ(run(t).verdict, "malicious");
}

TEST(Attribution, AWindowLeftOpenIsNotHonoured) {
  Trace t;
  begin(t, 1);
  library_startup(t);
  load_ok(t, 1);
  Verdict v = run(t);
  EXPECT_EQ(v.verdict, "malicious") << rules_of(v);
  EXPECT_NE(find_rule(v, "attribution.markers_inconsistent"), nullptr) << rules_of(v);
}

TEST(Attribution, ForgedMarkersThatDoNotAddUpDisableAttribution) {
  // A payload writing its own begin/end pair to the harness's pipe: the load event's count
  // (what the harness itself emitted) no longer matches.
  Trace t;
  begin(t, 1);
  end(t, 1);
  begin(t, 2);
  library_startup(t);
  end(t, 2);
  load_ok(t, 1);
  EXPECT_EQ(run(t).verdict, "malicious");
}

TEST(Attribution, MarkersBeforeTheLoadPhaseOrWithoutACountAreNotHonoured) {
  Trace t;
  begin(t, 1);
  library_startup(t);
  end(t, 1);
  t.load_ok();  // no cause_windows
  EXPECT_EQ(run(t).verdict, "malicious");
}

TEST(Attribution, ChildrenOfALibraryForkStayTheLibrarysAfterTheWindow) {
  Trace t;
  begin(t, 1);
  t.kernel("fork", {{"child_pid", 5001}, {"ppid", 1}});
  end(t, 1);
  t.kernel("exec", {{"filename", "/usr/bin/uname"}, {"argv", {"uname", "-p"}}, {"ret", 0}}, 5001);
  load_ok(t, 1);
  EXPECT_EQ(run(t).verdict, "benign") << rules_of(run(t));
}

TEST(Attribution, AttributeCausesWritesTheFieldsInPlace) {
  Trace t;
  begin(t, 1);
  library_startup(t);
  end(t, 1);
  load_ok(t, 1);
  Events events = t.events();
  AttributionResult r = attribute_causes(events, AttributionContext{kHarnessPid});
  EXPECT_TRUE(r.markers_valid) << r.problem;
  EXPECT_EQ(r.windows_honoured, 1u);
  int library = 0, harness = 0;
  for (const Event& e : events) {
    library += e.data.value("cause", "") == "library";
    harness += e.data.value("cause", "") == "harness";
  }
  EXPECT_EQ(library, 3);  // fork, exec (child), open
  EXPECT_GT(harness, 0);  // the setup phase
}

TEST(Attribution, CanBeSwitchedOffByPolicy) {
  Trace t;
  begin(t, 1);
  library_startup(t);
  end(t, 1);
  load_ok(t, 1);
  nlohmann::json doc = default_policy().doc;
  doc["checks"]["attribution"] = {{"enabled", false}};
  std::vector<LintIssue> issues;
  auto p = parse_policy(doc.dump(), &issues);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(evaluate(*p, t.events(), context()).verdict, "malicious");
}

}  // namespace
}  // namespace modelvet::policy
