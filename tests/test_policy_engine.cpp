// The default policy against synthetic traces: one test per rule family, plus the benign
// profile that must stay benign.
#include <gtest/gtest.h>

#include "tests/test_policy_support.h"

namespace modelvet::policy {
namespace {

using testing::context;
using testing::find_rule;
using testing::rules_of;
using testing::Trace;

Verdict run(const Trace& t, const Context& c = context()) { return evaluate(default_policy(), t.events(), c); }

void expect_verdict(const Verdict& v, const std::string& verdict, const std::string& rule, const std::string& severity,
                    const std::string& attack = "") {
  EXPECT_EQ(v.verdict, verdict) << rules_of(v);
  const Finding* f = find_rule(v, rule);
  ASSERT_NE(f, nullptr) << "no " << rule << " in: " << rules_of(v);
  EXPECT_EQ(f->severity, severity);
  if (!attack.empty()) EXPECT_EQ(f->attack, attack);
}

TEST(PolicyEngine, BenignLoadIsBenign) {
  Trace t;
  t.benign_load().load_ok().phase("exercise").phase("grace").phase("shutdown");
  Verdict v = run(t);
  EXPECT_EQ(v.verdict, "benign") << rules_of(v);
  EXPECT_EQ(v.score, 0);
  EXPECT_TRUE(v.findings.empty()) << rules_of(v);
  EXPECT_FALSE(v.summary.empty());
}

TEST(PolicyEngine, SetupPhaseNoiseNeverProducesFindings) {
  // The Trace constructor's setup phase writes under ~/.cache, maps a .so outside /usr/lib and
  // compiles a string: all harness start-up, all allowed.
  Trace t;
  t.load_ok();
  Verdict v = run(t);
  EXPECT_EQ(v.verdict, "benign") << rules_of(v);
  EXPECT_TRUE(v.findings.empty()) << rules_of(v);
}

TEST(PolicyEngine, LoaderReadsOfProcCpuinfoAndScratchWritesAreAllowed) {
  Trace t;
  t.kernel("open", {{"path", "/proc/cpuinfo"}, {"flags_str", "O_RDONLY|O_CLOEXEC"}, {"ret", 3}})
      .kernel("open", {{"path", "/tmp/7z/archive/data.pkl"}, {"flags_str", "O_WRONLY|O_CREAT|O_TRUNC"}, {"ret", 4}})
      .kernel("rename", {{"path", "/tmp/7z/a"}, {"new_path", "/tmp/7z/b"}})
      .kernel("unlink", {{"path", "/tmp/7z/b"}})
      .kernel("chmod", {{"path", "/tmp/7z"}, {"mode", 448}})
      .load_ok();
  Verdict v = run(t);
  EXPECT_EQ(v.verdict, "benign") << rules_of(v);
}

TEST(PolicyEngine, SpawnIsMaliciousAndTheHarnessOwnExecIsNot) {
  Trace t;
  t.kernel("fork", {{"child_pid", 4300}, {"ppid", testing::kHarnessPid}})
      .kernel("exec", {{"filename", "/bin/sh"}, {"argv", {"/bin/sh", "-c", "id"}}, {"ppid", testing::kHarnessPid}}, 4300)
      .load_raised("TypeError: 'int' object is not callable");
  Verdict v = run(t);
  expect_verdict(v, "malicious", "process.spawn", "malicious", "T1059");
  EXPECT_EQ(find_rule(v, "process.spawn")->evidence, "spawned /bin/sh -c id (/bin/sh)");
  EXPECT_EQ(find_rule(v, "process.spawn")->phase, "load");
  EXPECT_EQ(v.score, 100);
  EXPECT_EQ(v.summary, "spawned /bin/sh during load");
  int spawns = 0;
  for (const auto& f : v.findings) spawns += f.rule == "process.spawn";
  EXPECT_EQ(spawns, 1) << "the harness's own exec must not count: " << rules_of(v);
}

TEST(PolicyEngine, HarnessExecWithoutPhasesIsStillAllowedButAPayloadExecIsNot) {
  // No phase markers at all, load reached: everything counts as the load (fail closed), except
  // the harness's first exec.
  Events events;
  auto add = [&](uint64_t t, const std::string& kind, nlohmann::json d, int pid) {
    events.push_back(Event{t, "kernel", kind, pid, std::move(d)});
  };
  add(1000, "exec", {{"filename", "/usr/libexec/modelvet/harness"}, {"argv", {"harness"}}}, testing::kHarnessPid);
  add(2000, "exec", {{"filename", "/usr/bin/curl"}, {"argv", {"curl", "x.invalid"}}}, 4301);
  Verdict v = evaluate(default_policy(), events, context());
  EXPECT_EQ(v.verdict, "malicious");
  ASSERT_EQ(v.findings.size(), 1u) << rules_of(v);
  EXPECT_EQ(v.findings[0].evidence, "spawned curl x.invalid (/usr/bin/curl)");
}

TEST(PolicyEngine, ConnectIsMaliciousWithTheDestinationInTheSummary) {
  Trace t;
  t.kernel("exec", {{"filename", "/bin/sh"}, {"argv", {"sh", "-c", "nc 127.0.0.1 4444"}}}, 4300)
      .kernel("connect", {{"family", "inet"}, {"addr", "127.0.0.1"}, {"port", 4444}, {"proto", "tcp"}}, 4300)
      .kernel("net_redirect", {{"family", "inet"}, {"orig_addr", "127.0.0.1"}, {"orig_port", 4444}, {"proto", "tcp"}, {"redirected", true}}, 4300)
      .net("tcp_connect", {{"dst", "127.0.0.1"}, {"port", 4444}, {"sent_bytes", 5}, {"sent_preview", "hello"}})
      .load_ok();
  Verdict v = run(t);
  expect_verdict(v, "malicious", "network.connect", "malicious", "T1071");
  EXPECT_NE(find_rule(v, "network.redirected"), nullptr);
  expect_verdict(v, "malicious", "network.tcp", "malicious", "T1095");
  EXPECT_EQ(v.summary, "spawned /bin/sh and connected to 127.0.0.1:4444 during load");
}

TEST(PolicyEngine, Ipv6ConnectIsMalicious) {
  Trace t;
  t.kernel("connect", {{"family", "inet6"}, {"addr", "::1"}, {"port", 8443}, {"proto", "tcp"}}).load_ok();
  expect_verdict(run(t), "malicious", "network.connect", "malicious");
}

TEST(PolicyEngine, DnsLookupsAreMalicious) {
  Trace t;
  t.net("dns", {{"name", "c2.attacker.invalid"}, {"type", "A"}})
      .kernel("sendto", {{"family", "inet"}, {"addr", "10.0.2.3"}, {"port", 53}, {"proto", "udp"}, {"bytes", 40}})
      .load_ok();
  Verdict v = run(t);
  expect_verdict(v, "malicious", "network.dns", "malicious", "T1071.004");
  expect_verdict(v, "malicious", "network.dns_socket", "malicious", "T1071.004");
  EXPECT_EQ(find_rule(v, "network.dns")->evidence, "DNS query for c2.attacker.invalid (A)");
}

TEST(PolicyEngine, DecoyCredentialReadIsMalicious) {
  Trace t;
  t.kernel("open", {{"path", "/home/alice/.ssh/id_ed25519"}, {"flags_str", "O_RDONLY"}, {"ret", 3}})
      .kernel("open", {{"path", "/home/alice/./.aws/../.aws/credentials"}, {"flags_str", "O_RDONLY"}, {"ret", 3}})
      .load_ok();
  Verdict v = run(t);
  expect_verdict(v, "malicious", "credential.decoy_file", "malicious", "T1552.001");
  EXPECT_EQ(find_rule(v, "credential.decoy_file")->evidence, "opened ~/.ssh/id_ed25519 (O_RDONLY)");
  bool normalized = false;
  for (const auto& f : v.findings) normalized |= f.evidence == "opened ~/.aws/credentials (O_RDONLY)";
  EXPECT_TRUE(normalized) << rules_of(v);
}

TEST(PolicyEngine, ProcEnvironAndDecoyEnvVariablesAreCredentialAccess) {
  Trace t;
  t.kernel("open", {{"path", "/proc/self/environ"}, {"flags_str", "O_RDONLY"}, {"ret", 3}})
      .python("audit", {{"event", "os.getenv"}, {"args", {"HF_TOKEN"}}})
      .load_ok();
  Verdict v = run(t);
  expect_verdict(v, "malicious", "credential.environ", "malicious");
  expect_verdict(v, "malicious", "credential.env_var", "malicious");
}

TEST(PolicyEngine, ExfiltrationOfADecoySecretNamesTheSecretAndTheDestination) {
  Trace t;
  t.kernel("open", {{"path", "/home/alice/.aws/credentials"}, {"flags_str", "O_RDONLY"}, {"ret", 3}})
      .net("tcp_connect", {{"dst", "127.0.0.1"}, {"port", 8080}, {"sent_bytes", 80},
                           {"sent_preview", std::string("POST /c HTTP/1.1\r\n\r\nk=") + testing::kAwsSecret}})
      .load_ok();
  Verdict v = run(t);
  expect_verdict(v, "malicious", "exfiltration.decoy_secret", "malicious", "T1041");
  const std::string& evidence = find_rule(v, "exfiltration.decoy_secret")->evidence;
  EXPECT_NE(evidence.find("~/.aws/credentials"), std::string::npos) << evidence;
  EXPECT_NE(evidence.find("env AWS_SECRET_ACCESS_KEY"), std::string::npos) << evidence;
  EXPECT_NE(evidence.find("127.0.0.1:8080"), std::string::npos) << evidence;
}

TEST(PolicyEngine, ExfiltrationIsFoundBase64EncodedAndInDnsNames) {
  // base64("xx" + token): the token starts at an unaligned offset.
  Trace t;
  t.net("http", {{"method", "GET"}, {"host", "collect.invalid"}, {"path", "/?d=eHhoZl9Rd0VyVHlVaU9wQXNEZkdoSmtMelhjVmJObTEyMzQ1Njc4OTA="}, {"preview", ""}})
      .net("dns", {{"name", std::string(testing::kHfToken).substr(0, 30) + ".exfil.invalid"}, {"type", "TXT"}})
      .load_ok();
  Verdict v = run(t);
  int exfil = 0;
  for (const auto& f : v.findings) exfil += f.rule == "exfiltration.decoy_secret";
  EXPECT_EQ(exfil, 2) << rules_of(v);
  EXPECT_EQ(v.verdict, "malicious");
}

TEST(PolicyEngine, PersistenceWritesAreMalicious) {
  Trace t;
  t.kernel("open", {{"path", "/home/alice/.bashrc"}, {"flags_str", "O_WRONLY|O_APPEND"}, {"ret", 3}})
      .kernel("open", {{"path", "/home/alice/.ssh/authorized_keys"}, {"flags_str", "O_WRONLY|O_CREAT|O_APPEND"}, {"ret", 3}})
      .kernel("rename", {{"path", "/tmp/x"}, {"new_path", "/home/alice/.config/autostart/x.desktop"}})
      .load_ok();
  Verdict v = run(t);
  expect_verdict(v, "malicious", "persistence.shell_profile", "malicious", "T1546.004");
  expect_verdict(v, "malicious", "persistence.ssh_authorized_keys", "malicious", "T1098.004");
  expect_verdict(v, "malicious", "persistence.autostart", "malicious", "T1547.013");
  expect_verdict(v, "malicious", "fs.write_outside_scratch", "malicious", "T1565");
  // The rename's source is scratch, its destination is not: still a write outside scratch.
  expect_verdict(v, "malicious", "fs.modify_outside_scratch", "malicious", "T1565");
}

TEST(PolicyEngine, PthFileInSitePackagesIsPersistence) {
  Trace t;
  t.kernel("open", {{"path", "/home/alice/.local/lib/python3.11/site-packages/zz_init.pth"}, {"flags_str", "O_WRONLY|O_CREAT|O_TRUNC"}, {"ret", -13}})
      .load_ok();
  Verdict v = run(t);
  expect_verdict(v, "malicious", "persistence.python_startup", "malicious", "T1546");
}

TEST(PolicyEngine, TamperingWithOtherModelsIsMaliciousButScratchCopiesAreNot) {
  Trace t;
  t.kernel("open", {{"path", "/home/alice/.cache/huggingface/hub/models--acme--sentiment-small/snapshots/3f1c2a9/pytorch_model.bin"},
                    {"flags_str", "O_RDWR"}, {"ret", 4}})
      .kernel("open", {{"path", "/tmp/unpacked/weights.pt"}, {"flags_str", "O_WRONLY|O_CREAT"}, {"ret", 5}})
      .load_ok();
  Verdict v = run(t);
  expect_verdict(v, "malicious", "tamper.model_files", "malicious", "T1565.001");
  for (const auto& f : v.findings) EXPECT_EQ(f.evidence.find("/tmp/unpacked"), std::string::npos) << f.evidence;
}

TEST(PolicyEngine, ExecutableMappingsOutsideSystemLibrariesAndMemfdAreMalicious) {
  Trace t;
  t.kernel("mmap_exec", {{"fd", 9}, {"prot", 5}, {"path", "/tmp/libevil.so"}})
      .kernel("memfd_create", {{"name", "x"}, {"flags", 1}})
      .kernel("mmap_exec", {{"fd", -1}, {"prot", 7}, {"len", 4096}, {"anonymous", true}})
      .python("audit", {{"event", "ctypes.dlopen"}, {"args", {"/tmp/libevil.so"}}})
      .load_ok();
  Verdict v = run(t);
  expect_verdict(v, "malicious", "native.mmap_exec", "malicious", "T1620");
  expect_verdict(v, "malicious", "native.memfd", "malicious", "T1620");
  expect_verdict(v, "malicious", "native.anonymous_exec", "info", "T1620");
  expect_verdict(v, "malicious", "native.ctypes", "malicious", "T1106");
}

// torch's CPU kernels (GELU) JIT-compile into anonymous RWX memory during a benign forward pass:
// alone, anonymous executable memory is context, not a verdict.
TEST(PolicyEngine, AnonymousExecutableMemoryAloneIsAJitNotAVerdict) {
  Trace t;
  t.load_ok().phase("exercise").kernel("mmap_exec", {{"fd", -1}, {"prot", 7}, {"len", 262144}, {"anonymous", true},
                                                      {"syscall", "mprotect"}});
  EXPECT_EQ(run(t).verdict, "benign") << rules_of(run(t));
}

TEST(PolicyEngine, StringRunnersAndEnvironmentReadsAndProbeCallsFromThePickle) {
  Trace runner;
  runner.python("call", {{"callable", "cProfile.run"}, {"args", "('total = 1',)"}, {"origin", "pickle REDUCE @ offset 40"}})
      .load_ok();
  expect_verdict(run(runner), "suspicious", "code.dynamic", "suspicious", "T1027");
  Trace env;
  env.python("call", {{"callable", "_operator.getitem"}, {"args", "(<_Environ object>, 'AWS_SECRET_ACCESS_KEY')"},
                      {"origin", "pickle REDUCE @ offset 12"}})
      .load_ok();
  expect_verdict(run(env), "malicious", "credential.env_var_call", "malicious", "T1552.001");
  Trace probe;
  probe.python("call", {{"callable", "genericpath.exists"}, {"args", "('/proc/vz',)"}, {"origin", "pickle REDUCE @ offset 9"}})
      .load_ok();
  expect_verdict(run(probe), "suspicious", "evasion.sandbox_probe_call", "suspicious", "T1497");
}

TEST(PolicyEngine, DeniedMountIsAnEscapeAttempt) {
  Trace t;
  t.kernel("denied", {{"syscall", "mount"}, {"nr", 165}, {"args", {"0x0", "0x7ffd", "0x0"}}, {"ret", -1}}).load_ok();
  Verdict v = run(t);
  expect_verdict(v, "malicious", "escape.denied_syscall", "malicious", "T1611");
  EXPECT_EQ(v.summary, "tried mount during load");
}

TEST(PolicyEngine, OtherDeniedCallsAndDebuggerChecksAreSuspicious) {
  Trace t;
  t.kernel("denied", {{"syscall", "syslog"}, {"nr", 103}, {"args", {"0x3"}}, {"ret", -1}})
      .kernel("ptrace", {{"request", 0}, {"target_pid", 0}})
      .load_ok();
  Verdict v = run(t);
  expect_verdict(v, "suspicious", "escape.denied_other", "suspicious");
  expect_verdict(v, "suspicious", "evasion.debugger_check", "suspicious", "T1622");
  EXPECT_EQ(v.score, 50);
}

TEST(PolicyEngine, KillOutsideTheJailIsMaliciousInsideIsNot) {
  Trace t;
  t.kernel("fork", {{"child_pid", 4300}, {"ppid", testing::kHarnessPid}})
      .kernel("kill", {{"target_pid", 4300}, {"sig", 15}})
      .load_ok();
  EXPECT_EQ(run(t).verdict, "benign") << rules_of(run(t));
  t.kernel("kill", {{"target_pid", -1}, {"sig", 9}});
  expect_verdict(run(t), "malicious", "escape.kill_outside", "malicious", "T1611");
}

TEST(PolicyEngine, EvasionProbesAreSuspicious) {
  Trace t;
  t.kernel("open", {{"path", "/proc/1/cgroup"}, {"flags_str", "O_RDONLY"}, {"ret", 3}})
      .kernel("open", {{"path", "/proc/self/mountinfo"}, {"flags_str", "O_RDONLY"}, {"ret", 3}})
      .kernel("open", {{"path", "/.dockerenv"}, {"flags_str", "O_RDONLY"}, {"ret", -2}})
      .kernel("open", {{"path", "/sys/class/dmi/id/product_name"}, {"flags_str", "O_RDONLY"}, {"ret", -2}})
      .load_ok();
  Verdict v = run(t);
  EXPECT_EQ(v.verdict, "suspicious") << rules_of(v);
  int probes = 0;
  for (const auto& f : v.findings) probes += f.rule == "evasion.sandbox_probe" && f.attack == "T1497";
  EXPECT_EQ(probes, 4) << rules_of(v);
}

TEST(PolicyEngine, VirtualisationDetectorsAreEvasion) {
  for (const char* tool : {"/usr/local/bin/systemd-detect-virt", "/usr/bin/systemd-detect-virt", "/usr/sbin/dmidecode",
                           "/usr/sbin/virt-what"}) {
    SCOPED_TRACE(tool);
    Trace t;
    t.kernel("exec", {{"filename", tool}, {"argv", {tool, "-q"}}, {"ppid", testing::kHarnessPid}}, 4300).load_ok();
    Verdict v = run(t);
    int found = 0;
    for (const auto& f : v.findings)
      found += f.rule == "evasion.virt_detect_tool" && f.severity == "suspicious" && f.attack == "T1497.001";
    EXPECT_EQ(found, 1) << rules_of(v);
  }
  Trace lspci;  // a hardware listing is no such tool
  lspci.kernel("exec", {{"filename", "/usr/bin/lspci"}, {"argv", {"lspci"}}, {"ppid", testing::kHarnessPid}}, 4300).load_ok();
  for (const auto& f : run(lspci).findings) EXPECT_NE(f.rule, "evasion.virt_detect_tool");
}

TEST(PolicyEngine, DynamicCodeWithNoEffectIsSuspicious) {
  Trace t;
  t.python("call", {{"callable", "builtins.exec"}, {"args", "'x = 1 + 1'"}, {"origin", "pickle REDUCE @ offset 57"}})
      .python("audit", {{"event", "compile"}, {"args", {"'x = 1 + 1'", "'<string>'"}}})
      .python("audit", {{"event", "exec"}, {"args", {"<code object <module> at 0x7f, file \"<string>\", line 1>"}}})
      .load_ok();
  Verdict v = run(t);
  expect_verdict(v, "suspicious", "code.dynamic", "suspicious", "T1027");
  EXPECT_NE(v.summary.find("no observable effect"), std::string::npos) << v.summary;
}

TEST(PolicyEngine, DynamicCodeWithAnEffectIsReportedAsContextOnly) {
  Trace t;
  t.python("audit", {{"event", "compile"}, {"args", {"'import os; os.system(\"id\")'", "'<string>'"}}})
      .kernel("exec", {{"filename", "/usr/bin/id"}, {"argv", {"id"}}}, 4300)
      .load_ok();
  Verdict v = run(t);
  expect_verdict(v, "malicious", "code.dynamic", "info");
}

TEST(PolicyEngine, KerasLambdaRevivalAndImportsAreNotDynamicCode) {
  // The Keras emulation's own marshal.loads / FunctionType, and importlib compiling a module.
  Trace t;
  t.python("audit", {{"event", "marshal.loads"}, {"args", "(b'\\xe3\\x01...',)"}})
      .python("audit", {{"event", "function.__new__"}, {"args", "(<code object <lambda>>,)"}})
      .python("call", {{"callable", "__main__.<lambda>"}, {"args", "(array(...),)"}, {"origin", "keras Lambda layer 'lambda_1' (lambda)"}})
      .python("audit", {{"event", "compile"}, {"args", "(b'import x', '<string>')"}, {"import_machinery", true}})
      .load_ok();
  Verdict v = run(t);
  EXPECT_EQ(v.verdict, "benign") << rules_of(v);
}

TEST(PolicyEngine, FunctionsBuiltByAPickleAreDynamicCode) {
  Trace t;
  t.python("call", {{"callable", "types.FunctionType"}, {"args", "(<code>, {})"}, {"origin", "pickle REDUCE @ offset 80"}})
      .load_ok();
  expect_verdict(run(t), "suspicious", "code.dynamic", "suspicious");
}

TEST(PolicyEngine, LoadFailingAfterUnlistedCallsIsSuspicious) {
  Trace t;
  t.python("call", {{"callable", "collections.OrderedDict"}, {"args", "()"}, {"origin", "pickle REDUCE @ offset 3"}})
      .python("call", {{"callable", "webbrowser.open"}, {"args", "('http://x.invalid',)"}, {"origin", "pickle REDUCE @ offset 40"}})
      .load_raised("TypeError: 'bool' object is not iterable");
  Verdict v = run(t);
  expect_verdict(v, "suspicious", "load.failed_after_calls", "suspicious");
  const std::string& evidence = find_rule(v, "load.failed_after_calls")->evidence;
  EXPECT_NE(evidence.find("webbrowser.open"), std::string::npos) << evidence;
  EXPECT_EQ(evidence.find("OrderedDict"), std::string::npos) << evidence;
}

TEST(PolicyEngine, LoadFailingAfterOnlyBenignCallsIsBenign) {
  Trace t;
  t.benign_load().load_raised("RuntimeError: PytorchStreamReader failed");
  EXPECT_EQ(run(t).verdict, "benign") << rules_of(run(t));
}

TEST(PolicyEngine, DroppedEventsMakeABenignRunSuspicious) {
  Trace t;
  t.benign_load().load_ok();
  Context c = context();
  c.dropped = 17;
  Verdict v = run(t, c);
  expect_verdict(v, "suspicious", "tracer.events_lost", "suspicious");
  EXPECT_NE(v.summary.find("17"), std::string::npos) << v.summary;
}

TEST(PolicyEngine, DroppedEventsDoNotDowngradeAMaliciousRun) {
  Trace t;
  t.kernel("exec", {{"filename", "/bin/sh"}, {"argv", {"sh"}}}, 4300).load_ok();
  Context c = context();
  c.dropped = 3;
  expect_verdict(run(t, c), "malicious", "tracer.events_lost", "info");
}

TEST(PolicyEngine, TimeoutMidPayloadIsSuspicious) {
  Trace t;
  t.python("call", {{"callable", "time.sleep"}, {"args", "(3600,)"}, {"origin", "pickle REDUCE @ offset 20"}})
      .kernel("limit", {{"resource", "timeout"}});
  Verdict v = run(t);
  expect_verdict(v, "suspicious", "run.timeout_mid_payload", "suspicious", "T1497");
}

TEST(PolicyEngine, ResourceLimitIsSuspiciousAndAForkFloodIntoItMalicious) {
  Trace limited;
  limited.kernel("limit", {{"resource", "memory"}}).load_raised("MemoryError");
  expect_verdict(run(limited), "suspicious", "resource.limit", "suspicious", "T1499");

  Trace bomb;
  for (int i = 0; i < 40; ++i) bomb.kernel("fork", {{"child_pid", 5000 + i}, {"ppid", testing::kHarnessPid}});
  bomb.kernel("limit", {{"resource", "pids"}});
  Verdict v = run(bomb);
  expect_verdict(v, "malicious", "resource.fork_flood", "malicious", "T1499");
  EXPECT_EQ(find_rule(v, "resource.fork_flood")->evidence, "forked 40 processes and hit the pids limit");
}

TEST(PolicyEngine, ForgedPhaseMarkersDoNotHideLaterEvents) {
  Trace t;
  t.phase("setup")  // the payload pretends the load has not started yet
      .kernel("exec", {{"filename", "/bin/sh"}, {"argv", {"sh"}}}, 4300)
      .load_ok();
  Verdict v = run(t);
  expect_verdict(v, "malicious", "process.spawn", "malicious");
  expect_verdict(v, "malicious", "harness.phase_order", "suspicious");
}

TEST(PolicyEngine, HostileStringsAreMadePrintable) {
  Trace t;
  t.kernel("exec", {{"filename", "/bin/sh"}, {"argv", {"sh", "-c", "echo \x1b[31mred\n"}}}, 4300).load_ok();
  Verdict v = run(t);
  const Finding* f = find_rule(v, "process.spawn");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->evidence.find('\x1b'), std::string::npos);
  EXPECT_NE(f->evidence.find("\\x1b[31mred\\x0a"), std::string::npos) << f->evidence;
}

TEST(PolicyEngine, FindingsAreDedupedAndBounded) {
  Trace t;
  for (int i = 0; i < 5; ++i) t.kernel("exec", {{"filename", "/bin/true"}, {"argv", {"true"}}}, 4300);
  for (int i = 0; i < 80; ++i)
    t.kernel("open", {{"path", "/home/alice/projects/f" + std::to_string(i)}, {"flags_str", "O_WRONLY|O_CREAT"}, {"ret", 3}});
  t.load_ok();
  Verdict v = run(t);
  int spawns = 0;
  for (const auto& f : v.findings) spawns += f.rule == "process.spawn";
  EXPECT_EQ(spawns, 1);
  ASSERT_EQ(v.findings.size(), kMaxFindings + 1);
  EXPECT_EQ(v.findings.back().rule, "findings.truncated");
  EXPECT_EQ(v.findings.back().evidence, "+31 more findings not listed");
  EXPECT_NE(find_rule(v, "process.spawn"), nullptr) << "the most severe findings are kept";
  for (size_t i = 1; i < v.findings.size(); ++i) EXPECT_LE(v.findings[i - 1].t_ms, v.findings[i].t_ms);
}

TEST(PolicyEngine, FindingsCarryTimesPhasesAndTheirEvent) {
  Trace t;
  t.load_ok().phase("exercise").kernel("exec", {{"filename", "/bin/sh"}, {"argv", {"sh"}}}, 4300);
  Verdict v = run(t);
  const Finding* f = find_rule(v, "process.spawn");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->phase, "exercise");
  EXPECT_EQ(f->t_ms, (t.now() - t.events().front().t_ns) / 1000000);
  EXPECT_EQ(f->event["kind"], "exec");
  EXPECT_EQ(f->event["pid"], 4300);
  EXPECT_EQ(v.summary, "spawned /bin/sh during exercise");
}

TEST(PolicyEngine, ForgedEventsOfAnyShapeNeverThrow) {
  // Python events come from inside the jail: a payload can write anything on the pipe.
  Trace t;
  t.python("phase", {{"name", 5}})
      .python("call", {{"callable", nullptr}, {"args", {{"x", 1}}}, {"origin", 7}})
      .python("audit", {{"event", {"compile"}}, {"args", nullptr}})
      .python("load", {{"status", "raised"}, {"exception", 3}, {"type", nullptr}})
      .kernel("open", {{"path", 42}, {"flags_str", nullptr}})
      .kernel("kill", {{"target_pid", "one"}, {"sig", "nine"}})
      .kernel("limit", {{"resource", {1, 2}}})
      .kernel("exec", {{"filename", nullptr}, {"argv", "not a list"}}, 4300);
  Events events = t.events();
  events.push_back(Event{t.now() + 1, "python", "phase", 1, nlohmann::json::array()});
  events.push_back(Event{t.now() + 2, "net", "tcp_connect", 0, nlohmann::json(17)});
  Context c = context();
  c.timed_out = true;
  c.dropped = 1;
  Verdict v;
  EXPECT_NO_THROW(v = evaluate(default_policy(), events, c));
  EXPECT_EQ(v.verdict, "malicious") << rules_of(v);
}

}  // namespace
}  // namespace modelvet::policy

namespace modelvet::policy {
namespace {

// numpy parses .npy headers with ast.literal_eval and namedtuple builds classes with eval: a
// compile whose Python caller is library code is not the sample's dynamic code; one called
// straight from the unpickler is.
TEST(PolicyEngine, LibraryCompilesAreNotDynamicCodeButUnpicklerOnesAre) {
  Trace lib;
  lib.python("audit", {{"event", "compile"}, {"args", "(b\"{'descr': '|O'}\", '<unknown>')"},
                       {"caller", "/usr/lib/python3.11/ast.py:50 in parse"}})
      .load_ok();
  EXPECT_EQ(run(lib).verdict, "benign") << rules_of(run(lib));
  Trace payload;
  payload.python("audit", {{"event", "exec"}, {"args", "('x = 1', '<string>')"},
                           {"caller", "/usr/lib/python3.11/pickle.py:1718 in load_reduce"}})
      .load_ok();
  expect_verdict(run(payload), "suspicious", "code.dynamic", "suspicious", "T1027");
}

}  // namespace
}  // namespace modelvet::policy

namespace modelvet::policy {
namespace {

// A gadget aimed at another platform cannot run here (the harness stubs it), but it was meant to.
TEST(PolicyEngine, StubbedExecutionGadgetIsSuspiciousAndAMissingDataClassIsNot) {
  Trace gadget;
  gadget.python("stub", {{"module", "nt"}, {"name", "system"}}).load_ok();
  expect_verdict(run(gadget), "suspicious", "load.stubbed_gadget", "suspicious", "T1059");
  Trace data_class;
  data_class.python("stub", {{"module", "mylab.models"}, {"name", "TextClassifier"}}).load_ok();
  EXPECT_EQ(run(data_class).verdict, "benign") << rules_of(run(data_class));
}

}  // namespace
}  // namespace modelvet::policy

namespace modelvet::policy {
namespace {

TEST(PolicyEngine, ContainerRuntimeSocketIsAnEscapeAttempt) {
  Trace t;
  t.kernel("connect", {{"family", "unix"}, {"path", "/var/run/docker.sock"}, {"ret", -2}}).load_ok();
  expect_verdict(run(t), "malicious", "escape.runtime_socket", "malicious", "T1611");
}

}  // namespace
}  // namespace modelvet::policy
