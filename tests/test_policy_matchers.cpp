// The matcher primitives: globs, CIDRs, ranges, sets, decoys, array semantics, determinism.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <regex>

#include "policies/cidr.h"
#include "policies/glob.h"
#include "tests/test_policy_support.h"

namespace modelvet::policy {
namespace {

using nlohmann::json;

bool glob_matches(const std::string& glob, const std::string& path, const GlobVars& vars = {"/home/alice", "/tmp", "/m/x.pt"}) {
  std::string error;
  auto re = glob_to_regex(expand_glob_vars(glob, vars), &error);
  EXPECT_TRUE(re) << error;
  return re && std::regex_match(path, std::regex(*re));
}

TEST(PolicyGlob, StarsQuestionMarksClassesAndBraces) {
  EXPECT_TRUE(glob_matches("/usr/**", "/usr/lib/x86_64-linux-gnu/libc.so.6"));
  EXPECT_FALSE(glob_matches("/usr/**", "/usrx/lib"));
  EXPECT_TRUE(glob_matches("/proc/*/environ", "/proc/1/environ"));
  EXPECT_FALSE(glob_matches("/proc/*/environ", "/proc/1/task/1/environ"));
  EXPECT_TRUE(glob_matches("**/site-packages/*.pth", "/usr/lib/python3/site-packages/x.pth"));
  EXPECT_TRUE(glob_matches("**/*.{pt,bin}", "/a/b/model.bin"));
  EXPECT_FALSE(glob_matches("**/*.{pt,bin}", "/a/b/model.binx"));
  EXPECT_TRUE(glob_matches("/dev/tty?", "/dev/tty1"));
  EXPECT_TRUE(glob_matches("/dev/sd[a-c]", "/dev/sdb"));
  EXPECT_FALSE(glob_matches("/dev/sd[!a-c]", "/dev/sdb"));
  EXPECT_TRUE(glob_matches("/a/**/b", "/a/b"));
  EXPECT_TRUE(glob_matches("/tmp/a.b", "/tmp/a.b"));
  EXPECT_FALSE(glob_matches("/tmp/a.b", "/tmp/aXb"));
}

TEST(PolicyGlob, HomeScratchAndModelVariables) {
  EXPECT_TRUE(glob_matches("~/.ssh/**", "/home/alice/.ssh/id_ed25519"));
  EXPECT_FALSE(glob_matches("~/.ssh/**", "/home/bob/.ssh/id_ed25519"));
  EXPECT_TRUE(glob_matches("{~/.bashrc,~/.zshrc}", "/home/alice/.zshrc"));
  EXPECT_TRUE(glob_matches("$SCRATCH{,/**}", "/tmp"));
  EXPECT_TRUE(glob_matches("$SCRATCH{,/**}", "/tmp/x/y"));
  EXPECT_FALSE(glob_matches("$SCRATCH{,/**}", "/tmpfoo"));
  // A model path with glob characters stays literal.
  EXPECT_TRUE(glob_matches("$MODEL", "/m/[evil]*.pt", {"/h", "/tmp", "/m/[evil]*.pt"}));
  EXPECT_FALSE(glob_matches("$MODEL", "/m/e.pt", {"/h", "/tmp", "/m/[evil]*.pt"}));
  EXPECT_TRUE(glob_has_vars("{/x,~/.y}"));
  EXPECT_FALSE(glob_has_vars("/a~b"));
}

TEST(PolicyCidr, Ipv4Ipv6AndMapped) {
  auto loop = Cidr::parse("127.0.0.0/8");
  ASSERT_TRUE(loop);
  EXPECT_TRUE(loop->contains("127.0.0.1"));
  EXPECT_TRUE(loop->contains("::ffff:127.1.2.3"));
  EXPECT_FALSE(loop->contains("128.0.0.1"));
  EXPECT_FALSE(loop->contains("::1"));
  EXPECT_FALSE(loop->contains("not an address"));
  auto v6 = Cidr::parse("fd00::/8");
  ASSERT_TRUE(v6);
  EXPECT_TRUE(v6->contains("fd12:3456::1"));
  EXPECT_FALSE(v6->contains("fe80::1"));
  auto host = Cidr::parse("10.1.2.3");
  ASSERT_TRUE(host);
  EXPECT_TRUE(host->contains("10.1.2.3"));
  EXPECT_FALSE(host->contains("10.1.2.4"));
  EXPECT_TRUE(Cidr::parse("0.0.0.0/0")->contains("203.0.113.7"));
  EXPECT_FALSE(Cidr::parse("10.0.0.0/33"));
  EXPECT_FALSE(Cidr::parse("10.0.0.0/"));
  EXPECT_FALSE(Cidr::parse("::/129"));
}

// A one-rule policy around a "fields" object, to test matchers through the public API.
Verdict run_fields(const json& match, const Event& e, const Context& ctx = testing::context()) {
  json doc = {{"name", "t"},
              {"rules", {{{"id", "r"}, {"severity", "malicious"}, {"match", match}, {"explain", "hit"}}}}};
  std::vector<LintIssue> issues;
  auto p = parse_policy(doc.dump(), &issues);
  EXPECT_TRUE(p) << (issues.empty() ? "" : issues[0].where + " " + issues[0].message);
  Events events = {Event{1, "python", "phase", 1, {{"name", "load"}}}, e};
  return p ? evaluate(*p, events, ctx) : Verdict{};
}

Event kernel(const std::string& kind, json data) { return Event{2, "kernel", kind, 7, std::move(data)}; }

TEST(PolicyMatchers, CidrRangeInAndNot) {
  json m = {{"kind", "connect"},
            {"fields", {{"addr", {{"not", {{"cidr", "127.0.0.0/8"}}}}}, {"port", {{"range", {1, 1023}}}}, {"proto", {{"in", {"tcp", "udp"}}}}}}};
  EXPECT_EQ(run_fields(m, kernel("connect", {{"addr", "203.0.113.7"}, {"port", 80}, {"proto", "tcp"}})).verdict, "malicious");
  EXPECT_EQ(run_fields(m, kernel("connect", {{"addr", "127.0.0.1"}, {"port", 80}, {"proto", "tcp"}})).verdict, "benign");
  EXPECT_EQ(run_fields(m, kernel("connect", {{"addr", "203.0.113.7"}, {"port", 4444}, {"proto", "tcp"}})).verdict, "benign");
  EXPECT_EQ(run_fields(m, kernel("connect", {{"addr", "203.0.113.7"}, {"port", 80}, {"proto", "sctp"}})).verdict, "benign");
  // An absent field matches nothing, not even "not".
  EXPECT_EQ(run_fields(m, kernel("connect", {{"port", 80}, {"proto", "tcp"}})).verdict, "benign");
}

TEST(PolicyMatchers, ArgvRegexMatchesAnyElement) {
  json m = {{"kind", "exec"}, {"fields", {{"argv", {{"regex", "^(curl|wget)$"}}}}}};
  EXPECT_EQ(run_fields(m, kernel("exec", {{"argv", {"/bin/sh", "-c", "x"}}})).verdict, "benign");
  EXPECT_EQ(run_fields(m, kernel("exec", {{"argv", {"env", "wget", "x"}}})).verdict, "malicious");
}

TEST(PolicyMatchers, EveryAndExists) {
  json every = {{"kind", "rename"}, {"fields", {{"paths", {{"every", {{"glob", "/tmp/**"}}}}}}}};
  EXPECT_EQ(run_fields(every, kernel("rename", {{"path", "/tmp/a"}, {"new_path", "/tmp/b"}})).verdict, "malicious");
  EXPECT_EQ(run_fields(every, kernel("rename", {{"path", "/tmp/a"}, {"new_path", "/etc/b"}})).verdict, "benign");
  json missing = {{"kind", "mmap_exec"}, {"fields", {{"path", {{"exists", false}}}}}};
  EXPECT_EQ(run_fields(missing, kernel("mmap_exec", {{"fd", -1}})).verdict, "malicious");
  EXPECT_EQ(run_fields(missing, kernel("mmap_exec", {{"fd", 3}, {"path", "/x"}})).verdict, "benign");
}

TEST(PolicyMatchers, DecoyFilesEnvNamesAndSecretValues) {
  json file = {{"kind", "open"}, {"fields", {{"path", {{"decoy", "file"}}}}}};
  EXPECT_EQ(run_fields(file, kernel("open", {{"path", "/home/alice/.cache/huggingface/token"}})).verdict, "malicious");
  EXPECT_EQ(run_fields(file, kernel("open", {{"path", "/home/alice/notes.txt"}})).verdict, "benign");
  json env = {{"source", "python"}, {"kind", "audit"}, {"fields", {{"args", {{"decoy", "env"}}}}}};
  EXPECT_EQ(run_fields(env, Event{2, "python", "audit", 1, {{"event", "os.getenv"}, {"args", {"HF_TOKEN"}}}}).verdict, "malicious");
  EXPECT_EQ(run_fields(env, Event{2, "python", "audit", 1, {{"event", "os.getenv"}, {"args", {"HOME"}}}}).verdict, "benign");
  json secret = {{"source", "net"}, {"kind", "http"}, {"fields", {{"preview", {{"decoy", "secret"}}}}}};
  EXPECT_EQ(run_fields(secret, Event{2, "net", "http", 0, {{"preview", std::string("k=") + testing::kHfToken}}}).verdict, "malicious");
}

TEST(PolicyMatchers, RelativeAndDottedPathsAreNormalised) {
  json m = {{"kind", "open"}, {"fields", {{"path", {{"glob", "/etc/passwd"}}}}}};
  Context ctx = testing::context();
  ctx.scratch = "/tmp/run";
  EXPECT_EQ(run_fields(m, kernel("open", {{"path", "../../etc/passwd"}}), ctx).verdict, "malicious");
  EXPECT_EQ(run_fields(m, kernel("open", {{"path", "/tmp/../etc/./passwd"}}), ctx).verdict, "malicious");
}

TEST(PolicyDeterminism, ShuffledInputWithEqualTimesGivesTheSameVerdict) {
  testing::Trace t;
  t.kernel("exec", {{"filename", "/bin/sh"}, {"argv", {"sh"}}}, 4300)
      .kernel("open", {{"path", "/home/alice/.aws/credentials"}, {"flags_str", "O_RDONLY"}, {"ret", 3}}, 4300)
      .net("tcp_connect", {{"dst", "127.0.0.1"}, {"port", 1}, {"sent_bytes", 40}, {"sent_preview", testing::kAwsSecret}})
      .kernel("open", {{"path", "/proc/1/cgroup"}, {"flags_str", "O_RDONLY"}, {"ret", 3}}, 4300)
      .load_ok();
  Events events = t.events();
  // Several events share one timestamp: ties must be broken by content, not input order.
  for (size_t i = 7; i < events.size(); ++i) events[i].t_ns = events[7].t_ns;
  Verdict reference = evaluate(default_policy(), events, testing::context());
  ASSERT_EQ(reference.verdict, "malicious");
  std::mt19937 rng(1234);
  for (int round = 0; round < 20; ++round) {
    std::shuffle(events.begin(), events.end(), rng);
    Verdict v = evaluate(default_policy(), events, testing::context());
    EXPECT_EQ(v.verdict, reference.verdict);
    EXPECT_EQ(v.summary, reference.summary);
    ASSERT_EQ(v.findings.size(), reference.findings.size());
    for (size_t i = 0; i < v.findings.size(); ++i) {
      EXPECT_EQ(v.findings[i].rule, reference.findings[i].rule);
      EXPECT_EQ(v.findings[i].evidence, reference.findings[i].evidence);
      EXPECT_EQ(v.findings[i].event, reference.findings[i].event);
    }
  }
}

}  // namespace
}  // namespace modelvet::policy
