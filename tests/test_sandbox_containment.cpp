// Containment probes: each runs hostile-shaped (but defanged) Python inside the real jail and
// the test asserts what the HOST observes afterwards. The jail is entered exactly as a
// detonation enters it; the probes use /usr/bin/python3.11 instead of the harness so they can
// try one escape each.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "sandbox/cgroup.h"
#include "sandbox/jail.h"

namespace fs = std::filesystem;
using modelvet::sandbox::JailConfig;
using modelvet::sandbox::JailHandle;
using modelvet::sandbox::JailOutcome;

namespace {

struct Probe {
  JailOutcome outcome;
  nlohmann::json report;  // the last JSON line the probe printed
};

std::string model_file() {
  static std::string path = [] {
    std::string p = "/tmp/modelvet-test-model.pkl";
    std::ofstream(p, std::ios::binary) << std::string("\x80\x04}\x94.", 5);  // an empty dict
    return p;
  }();
  return path;
}

// A host directory only the user running the tests can use: /root as root; rootless, where the
// jail's processes are that very user on the host, a private directory of theirs.
std::string host_private_dir() {
  if (geteuid() == 0) return "/root";
  std::string dir = "/tmp/modelvet-host-" + std::to_string(geteuid());
  fs::create_directories(dir);
  fs::permissions(dir, fs::perms::owner_all);
  return dir;
}

// Runs `code` in the jail with Python; the test first checks the jail's network is isolated.
Probe run_probe(const std::string& code, int timeout_ms = 20000, modelvet::sandbox::Limits limits = {}) {
  JailConfig cfg;
  cfg.model_path = model_file();
  cfg.exe_path = "/usr/bin/python3.11";
  cfg.harness_args = {"-I", "-c", code};
  cfg.timeout_ms = timeout_ms;
  cfg.limits = limits;
  bool isolated = false;
  Probe p;
  p.outcome = modelvet::sandbox::run_jail(cfg, [&](const JailHandle& h, std::string*) {
    isolated = h.netns.isolated() && h.netns.inode != 0;
    return isolated;  // never release a jail that could reach out
  });
  EXPECT_TRUE(isolated) << "jail netns not isolated";
  EXPECT_TRUE(p.outcome.ran) << p.outcome.error;
  EXPECT_TRUE(p.outcome.clean_teardown) << "something was left behind";
  std::istringstream lines(p.outcome.output);
  std::string line;
  while (std::getline(lines, line))
    if (!line.empty() && line[0] == '{') p.report = nlohmann::json::parse(line, nullptr, false);
  return p;
}

// A probe body: tries `attempt`, prints {"ok": true} if it worked, {"ok": false, "err": ...} if not.
std::string attempt(const std::string& body) {
  return "import json, os, sys, ctypes, socket, errno\n"
         "libc = ctypes.CDLL(None, use_errno=True)\n"
         "try:\n" +
         body +
         "\n    print(json.dumps({'ok': True}))\n"
         "except BaseException as e:\n"
         "    print(json.dumps({'ok': False, 'err': repr(e)}))\n";
}

std::string indent(const std::string& code) {
  std::string out = "    ";
  for (char c : code) {
    out += c;
    if (c == '\n') out += "    ";
  }
  return out;
}

// Escape attempts through libc that must fail: raise OSError when the call returns -1.
std::string libc_call(const std::string& call) {
  return attempt(indent("r = " + call + "\nif r == -1: raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))"));
}

void expect_blocked(const Probe& p) {
  ASSERT_TRUE(p.report.is_object()) << "probe printed no verdict; output: " << p.outcome.output;
  EXPECT_FALSE(p.report.value("ok", true)) << p.outcome.output;
}

}  // namespace

TEST(Containment, JailHasOwnIsolatedNetworkNamespace) {
  JailConfig cfg;
  cfg.model_path = model_file();
  cfg.exe_path = "/usr/bin/python3.11";
  cfg.harness_args = {"-I", "-c", "import socket; print(socket.gethostname())"};
  struct stat host_ns{};
  ASSERT_EQ(stat("/proc/self/ns/net", &host_ns), 0);
  modelvet::sandbox::NetnsView seen;
  auto out = modelvet::sandbox::run_jail(cfg, [&](const JailHandle& h, std::string*) {
    seen = h.netns;
    return h.netns.isolated();
  });
  ASSERT_TRUE(out.ran) << out.error;
  EXPECT_NE(seen.inode, host_ns.st_ino);
  EXPECT_EQ(seen.interfaces, std::vector<std::string>{"lo"});
  EXPECT_EQ(seen.ipv4_routes, 0);
  EXPECT_NE(out.output.find(modelvet::sandbox::kJailHostname), std::string::npos);
  EXPECT_TRUE(out.clean_teardown);
}

TEST(Containment, WriteToHostPathFails) {
  std::string marker = host_private_dir() + "/modelvet-escape-marker";
  fs::remove(marker);
  auto p = run_probe(attempt(indent("open('" + marker + "', 'w').write('x')")));
  expect_blocked(p);
  EXPECT_FALSE(fs::exists(marker));
}

TEST(Containment, ReadOfHostSecretFails) {
  std::string secret = "modelvet-host-secret-" + std::to_string(std::random_device{}());
  std::string path = host_private_dir() + "/.modelvet-test-secret";
  std::ofstream(path) << secret;
  auto p = run_probe(attempt(indent("print(open('" + path + "').read())")));
  expect_blocked(p);
  EXPECT_EQ(p.outcome.output.find(secret), std::string::npos);
  fs::remove(path);
}

TEST(Containment, HostLoopbackListenerIsUnreachable) {
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(listener, 4), 0);
  socklen_t len = sizeof addr;
  getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  auto p = run_probe(attempt(indent("socket.create_connection(('127.0.0.1', " + std::to_string(port) + "), timeout=2)")));
  expect_blocked(p);
  EXPECT_LT(accept(listener, nullptr, nullptr), 0) << "a jail reached the host's loopback";
  close(listener);
}

TEST(Containment, NoRouteToOutsideAddresses) {
  // 192.0.2.1 is TEST-NET-1: with no route, the packet never leaves the jail's namespace.
  auto p = run_probe(attempt(indent("socket.create_connection(('192.0.2.1', 80), timeout=2)")));
  expect_blocked(p);
  EXPECT_NE(p.report.value("err", "").find("unreachable"), std::string::npos) << p.report.dump();
}

TEST(Containment, CannotKillTheSupervisor) {
  pid_t me = getpid();
  auto p = run_probe(attempt(indent("os.kill(" + std::to_string(me) + ", 9)")));
  expect_blocked(p);  // no such pid in the jail's pid namespace
  auto p2 = run_probe("import os\ntry:\n    os.kill(-1, 9)\nexcept Exception as e: print(e)\n");
  EXPECT_TRUE(p2.outcome.ran);
  EXPECT_EQ(kill(me, 0), 0);  // still here
}

TEST(Containment, JailSeesOnlyItsOwnProcesses) {
  auto p = run_probe("import os, json\nprint(json.dumps({'pids': sorted(int(d) for d in os.listdir('/proc') if d.isdigit()), 'me': os.getpid()}))");
  ASSERT_TRUE(p.report.is_object()) << p.outcome.output;
  // The jail's init is pid 1 and the loaded code runs as its child, as in any container.
  EXPECT_EQ(p.report["me"], 2);
  EXPECT_EQ(p.report["pids"], nlohmann::json::array({1, 2}));
}

TEST(Containment, PtraceOfOtherProcessesDenied) {
  expect_blocked(run_probe(libc_call("libc.ptrace(16, 1, 0, 0)")));  // PTRACE_ATTACH
}

TEST(Containment, MountDenied) { expect_blocked(run_probe(libc_call("libc.mount(b'none', b'/tmp', b'tmpfs', 0, None)"))); }
TEST(Containment, UnshareDenied) { expect_blocked(run_probe(libc_call("libc.unshare(0x10000000)"))); }  // CLONE_NEWUSER
TEST(Containment, SetnsDenied) {
  expect_blocked(run_probe(libc_call("libc.setns(os.open('/proc/self/ns/net', os.O_RDONLY), 0)")));
}
TEST(Containment, ChrootDenied) { expect_blocked(run_probe(libc_call("libc.chroot(b'/tmp')"))); }
TEST(Containment, BpfDenied) { expect_blocked(run_probe(libc_call("libc.syscall(321, 0, 0, 0)"))); }
TEST(Containment, PerfEventOpenDenied) { expect_blocked(run_probe(libc_call("libc.syscall(298, 0, 0, -1, -1, 0)"))); }
TEST(Containment, KeyctlDenied) { expect_blocked(run_probe(libc_call("libc.syscall(250, 0, 0, 0, 0, 0)"))); }
TEST(Containment, IoUringDenied) { expect_blocked(run_probe(libc_call("libc.syscall(425, 8, 0)"))); }
TEST(Containment, UserfaultfdDenied) { expect_blocked(run_probe(libc_call("libc.syscall(323, 0)"))); }
TEST(Containment, ModuleLoadingDenied) { expect_blocked(run_probe(libc_call("libc.syscall(313, 0, b'', 0)"))); }
TEST(Containment, SethostnameDenied) { expect_blocked(run_probe(libc_call("libc.sethostname(b'pwned', 5)"))); }
TEST(Containment, RawSocketDenied) { expect_blocked(run_probe(attempt(indent("socket.socket(socket.AF_PACKET, socket.SOCK_RAW)")))); }

TEST(Containment, NoCapabilitiesAndNotRoot) {
  auto p = run_probe(
      "import os, json\nst = dict(l.split(':\\t', 1) for l in open('/proc/self/status').read().splitlines() if ':\\t' in l)\n"
      "print(json.dumps({'uid': os.getuid(), 'capeff': st['CapEff'].strip(), 'capbnd': st['CapBnd'].strip(), "
      "'nnp': st['NoNewPrivs'].strip(), 'seccomp': st['Seccomp'].strip()}))");
  ASSERT_TRUE(p.report.is_object()) << p.outcome.output;
  EXPECT_NE(p.report["uid"], 0);
  EXPECT_EQ(p.report["capeff"], "0000000000000000");
  EXPECT_EQ(p.report["capbnd"], "0000000000000000");
  EXPECT_EQ(p.report["nnp"], "1");
  EXPECT_EQ(p.report["seccomp"], "2");
}

TEST(Containment, SystemIsReadOnly) { expect_blocked(run_probe(attempt(indent("open('/usr/lib/modelvet-pwned', 'w')")))); }
TEST(Containment, ModelFileIsReadOnly) {
  expect_blocked(run_probe(attempt(indent("open('/home/alice/models/modelvet-test-model.pkl', 'ab').write(b'x')"))));
}
TEST(Containment, HostShadowNotVisible) { expect_blocked(run_probe(attempt(indent("open('/etc/shadow').read()")))); }
TEST(Containment, ProcSysIsNotWritable) {
  expect_blocked(run_probe(attempt(indent("open('/proc/sys/kernel/hostname', 'w').write('pwned')"))));
  expect_blocked(run_probe(attempt(indent("open('/proc/sysrq-trigger', 'w').write('b')"))));
}
TEST(Containment, SymlinkToHostPathLeadsNowhere) {
  std::string target = host_private_dir() + "/.modelvet-symlink-target";
  std::string secret = "modelvet-symlink-secret-" + std::to_string(std::random_device{}());
  std::ofstream(target) << secret;
  auto p = run_probe(attempt(indent("os.symlink('" + target + "', '/tmp/l')\nprint(open('/tmp/l').read())")));
  expect_blocked(p);
  EXPECT_EQ(p.outcome.output.find(secret), std::string::npos);
  fs::remove(target);
}
TEST(Containment, NoBlockDevices) { expect_blocked(run_probe(attempt(indent("open('/dev/vda', 'rb')")))); }

TEST(Containment, MemoryBombIsContained) {
  auto p = run_probe(attempt(indent("b = bytearray(16 << 30)")));
  expect_blocked(p);
  EXPECT_NE(p.report.value("err", "").find("MemoryError"), std::string::npos);
}

TEST(Containment, DiskFillStopsAtScratchCap) {
  auto p = run_probe(attempt(indent("f = open('/tmp/fill', 'wb')\nfor _ in range(1024): f.write(b'\\0' * (1 << 20))\nf.flush()")));
  expect_blocked(p);
}

TEST(Containment, ForkFloodIsBounded) {
  modelvet::sandbox::Limits limits;
  limits.processes = 32;
  auto p = run_probe(attempt(indent(
      "import time\nkids = []\nfor i in range(200):\n    pid = os.fork()\n    if pid == 0:\n        time.sleep(20)\n        os._exit(0)\n    kids.append(pid)")),
      20000, limits);
  expect_blocked(p);  // fork fails long before 200
  EXPECT_NE(p.report.value("err", "").find("Resource temporarily unavailable"), std::string::npos) << p.report.dump();
  // Where the host has a pids controller, the hit is reported as what it was.
  if (modelvet::sandbox::V1Limits::create("probe-pids", 8, 0).describe().find("pids") != std::string::npos)
    EXPECT_NE(std::find(p.outcome.limits_hit.begin(), p.outcome.limits_hit.end(), "pids"), p.outcome.limits_hit.end());
}

TEST(Containment, LingeringDaemonDiesWithTheJail) {
  std::string tag = "modelvet-daemon-" + std::to_string(std::random_device{}());
  auto p = run_probe(
      "import os, time\n"
      "if os.fork() == 0:\n"
      "    os.setsid()\n"
      "    if os.fork() == 0:\n"
      "        os.execv('/bin/sleep', ['/bin/sleep', '60', '" + tag + "'])\n"
      "    os._exit(0)\n"
      "time.sleep(0.3)\nprint('{\"ok\": true}')\n");
  ASSERT_TRUE(p.outcome.ran);
  // No process on the host carries the daemon's tag any more.
  for (auto& entry : fs::directory_iterator("/proc")) {
    std::ifstream cmd(entry.path() / "cmdline");
    std::string s((std::istreambuf_iterator<char>(cmd)), {});
    EXPECT_EQ(s.find(tag), std::string::npos) << "daemon survived: pid " << entry.path().filename();
  }
}

TEST(Containment, WallClockTimeoutKillsEverything) {
  auto p = run_probe("import time\nwhile True: time.sleep(1)\n", 1500);
  EXPECT_TRUE(p.outcome.timed_out);
  EXPECT_EQ(p.outcome.limits_hit, std::vector<std::string>{"timeout"});
}

TEST(Containment, CpuLimitIsReportedAsSuch) {
  modelvet::sandbox::Limits limits;
  limits.cpu_seconds = 1;
  auto p = run_probe("while True: pass\n", 20000, limits);
  EXPECT_EQ(p.outcome.term_signal, SIGXCPU);
  EXPECT_NE(std::find(p.outcome.limits_hit.begin(), p.outcome.limits_hit.end(), "cpu"), p.outcome.limits_hit.end());
}

TEST(Containment, DecoyHomeHasUniqueSecrets) {
  auto p = run_probe("import json, os\nprint(json.dumps({'aws': open(os.path.expanduser('~/.aws/credentials')).read(), 'hf': os.environ.get('HF_TOKEN')}))");
  ASSERT_TRUE(p.report.is_object()) << p.outcome.output;
  ASSERT_FALSE(p.outcome.decoys.secrets.empty());
  std::string hf = p.report.value("hf", "");
  EXPECT_EQ(p.outcome.decoys.env.at("HF_TOKEN"), hf);
  EXPECT_NE(p.report.value("aws", "").find(p.outcome.decoys.secrets.at("~/.aws/credentials")), std::string::npos);
  auto p2 = run_probe("import os; print('{\"hf\": \"%s\"}' % os.environ.get('HF_TOKEN'))");
  EXPECT_NE(p2.report.value("hf", ""), hf) << "decoy secrets must differ per run";
}

TEST(Containment, NothingLeftBehind) {
  auto p = run_probe("import os\nif os.fork() == 0:\n    os.setsid()\n    os.execv('/bin/sleep', ['/bin/sleep', '30'])\nprint('{\"ok\": true}')");
  EXPECT_TRUE(p.outcome.clean_teardown);
  // Rootless jails have no cgroup: their pid namespace is checked (tests/test_sandbox_isolation.cpp).
  ASSERT_EQ(p.outcome.handle.cgroup_path.empty(), p.outcome.handle.user_namespace);
  if (!p.outcome.handle.user_namespace) EXPECT_FALSE(fs::exists(p.outcome.handle.cgroup_path)) << "leftover cgroup";
  ASSERT_FALSE(p.outcome.handle.staging_dir.empty());
  EXPECT_FALSE(fs::exists(p.outcome.handle.staging_dir)) << "leftover staging dir";
  EXPECT_NE(kill(p.outcome.handle.init_pid, 0), 0) << "the jail's init survived";
}
