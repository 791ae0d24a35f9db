// Containment probes: each runs hostile-shaped (but defanged) Python inside the real jail and
// the test asserts what the HOST observes afterwards, and why the attempt was stopped (the
// exception it got, and for a syscall which layer refused it). The jail is entered exactly as a
// detonation enters it; the probes use /usr/bin/python3.11 instead of the harness so they can
// try one escape each.
//
// Built a second time as sandbox_zygote_tests (MODELVET_ZYGOTE_BINARY set): every probe then
// runs in a jail forked from a real zygote (`modelvet __zygote --loader pickle`, issue #11), its
// code carried by a pickle the forked harness loads, and the tests at the end attack the zygote
// and a sibling jail by their host pids.
#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <set>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "sandbox/cgroup.h"
#include "sandbox/jail.h"
#include "sandbox/limits.h"
#include "sandbox/seccomp_filter.h"
#include "sandbox/workstation.h"
#include "tests/sys_enter_counters.h"
#ifdef MODELVET_ZYGOTE_BINARY
#include <sys/wait.h>

#include <future>
#include <thread>

#include "sandbox/zygote.h"
#include "verifier/zygote_pool.h"
#endif

namespace fs = std::filesystem;
using modelvet::sandbox::JailConfig;
using modelvet::sandbox::JailHandle;
using modelvet::sandbox::JailOutcome;

namespace {

struct Probe {
  JailOutcome outcome;
  nlohmann::json report;  // the last JSON line the probe printed
  std::map<std::string, std::optional<uint64_t>> sys_enter;  // the counted syscalls (nullopt: no counter)
};

// How a probe's jail differs from a detonation's: a filter loaded instead of the jail's own (the
// comparison jail, under a filter that allows everything), and the syscalls to count.
struct ProbeOptions {
  const modelvet::sandbox::SeccompProgram* filter = nullptr;
  std::set<std::string> count;
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
// Why a path under host_private_dir() fails inside: the jail's /root is its own (empty, closed to
// the jail user, as on a workstation), and a rootless caller's private dir does not exist there.
std::string host_private_reason() { return geteuid() == 0 ? "PermissionError(13," : "FileNotFoundError(2,"; }

std::string host_private_dir() {
  if (geteuid() == 0) return "/root";
  std::string dir = "/tmp/modelvet-host-" + std::to_string(geteuid());
  fs::create_directories(dir);
  fs::permissions(dir, fs::perms::owner_all);
  return dir;
}

#ifdef MODELVET_ZYGOTE_BINARY
constexpr bool kForked = true;

// The suite's zygote, started on first use and replaced if a test killed it.
std::unique_ptr<modelvet::sandbox::Zygote>& zygote() {
  static std::unique_ptr<modelvet::sandbox::Zygote> z;
  if (!z || !z->healthy()) {
    std::string error;
    z = modelvet::sandbox::Zygote::exec("pickle", {MODELVET_ZYGOTE_BINARY, "__zygote", "--loader", "pickle"}, &error);
    if (!z) ADD_FAILURE() << "zygote did not start: " << error;
  }
  return z;
}

// A protocol-2 pickle whose only call is builtins.exec(code, {}): what the forked harness loads
// (a globals dict of its own, so the code's imports are visible in its functions and classes).
std::string exec_pickle(const std::string& code) {
  static int n = 0;  // one directory per probe; the file keeps the name the probes expect in the jail
  std::string dir = "/tmp/modelvet-zygote-probe-" + std::to_string(getpid()) + "-" + std::to_string(n++);
  fs::create_directories(dir);
  std::string p = dir + "/" + fs::path(model_file()).filename().string();
  uint32_t len = uint32_t(code.size());
  std::string bytes = "\x80\x02" "cbuiltins\nexec\n" "X";
  bytes.append(reinterpret_cast<const char*>(&len), 4);  // little-endian, as on every host we run
  bytes += code + "}\x86R.";  // EMPTY_DICT, TUPLE2, REDUCE
  std::ofstream(p, std::ios::binary) << bytes;
  return p;
}
#else
constexpr bool kForked = false;
#endif

// How the probe's code gets into the jail: as Python's -c, or (sandbox_zygote_tests) as the
// pickle a zygote-forked harness loads, exactly as a detonation's harness would.
void set_probe_code(JailConfig& cfg, const std::string& code) {
#ifdef MODELVET_ZYGOTE_BINARY
  cfg.model_path = exec_pickle(code);
  cfg.exe_path = MODELVET_ZYGOTE_BINARY;  // only if the zygote failed, which the probe asserts not
  cfg.harness_args = {"__harness", "--file", "{model}", "--loader", "pickle", "--format", "pickle",
                      "--event-fd", "3", "--grace-ms", "300", "--no-exercise"};
  cfg.zygote = zygote().get();
#else
  cfg.model_path = model_file();
  cfg.exe_path = "/usr/bin/python3.11";
  cfg.harness_args = {"-I", "-c", code};
#endif
}

// Runs `code` in the jail with Python; the test first checks the jail's network is isolated.
Probe run_probe(const std::string& code, int timeout_ms = 20000, modelvet::sandbox::Limits limits = {},
                const ProbeOptions& opt = {}, const modelvet::sandbox::AttachFn& also = nullptr) {
  JailConfig cfg;
  set_probe_code(cfg, code);
  cfg.timeout_ms = timeout_ms;
  cfg.limits = limits;
  cfg.test_only_seccomp = opt.filter;
  bool isolated = false;
  Probe p;
  modelvet::testing::SysEnterCounters counters;
  p.outcome = modelvet::sandbox::run_jail(cfg, [&](const JailHandle& h, std::string*) {
    isolated = h.netns.isolated() && h.netns.inode != 0;
    if (!opt.count.empty()) counters.open(h.init_pid, opt.count);
    return isolated && (!also || also(h, nullptr));  // never release a jail that could reach out
  });
  for (const auto& name : opt.count) p.sys_enter[name] = counters.count(name);
  EXPECT_TRUE(isolated) << "jail netns not isolated";
  EXPECT_TRUE(p.outcome.ran) << p.outcome.error;
  EXPECT_TRUE(p.outcome.clean_teardown) << "something was left behind";
  if (kForked) {
    EXPECT_EQ(p.outcome.launch, "zygote pickle") << "not forked from the zygote";
    fs::remove_all(fs::path(cfg.model_path).parent_path());
  }
  std::istringstream lines(p.outcome.output);
  std::string line;
  while (std::getline(lines, line))
    if (!line.empty() && line[0] == '{') p.report = nlohmann::json::parse(line, nullptr, false);
  return p;
}

// A probe body: tries `attempt`, prints {"ok": true} if it worked, {"ok": false, "err": ...} if not.
std::string attempt(const std::string& body) {
  return "import json, os, sys, ctypes, socket, errno, struct\n"
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

// The attempt failed, and for the reason expected: the repr of what it raised holds `reason`
// (an exception class with its errno, "PermissionError(1," for EPERM).
void expect_blocked(const Probe& p, const std::string& reason) {
  ASSERT_TRUE(p.report.is_object()) << "probe printed no verdict; output: " << p.outcome.output;
  EXPECT_FALSE(p.report.value("ok", true)) << p.outcome.output;
  EXPECT_NE(p.report.value("err", "").find(reason), std::string::npos)
      << "stopped, but not by what was expected (" << reason << "): " << p.report.dump();
}

const std::string kEperm = "PermissionError(1,";

const modelvet::sandbox::SeccompProgram& allow_all() {
  static const auto program =
      modelvet::sandbox::SeccompProgram::from_filter({sock_filter BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)});
  return program;
}

std::string answer(const Probe& p) { return p.report.value("ok", false) ? "ok" : p.report.value("err", "no answer"); }

// `code` calls `syscall`, which the jail's filter denies: EPERM, and the filter's doing. The same
// probe in the same jail under a filter that allows everything gets another answer; or, where the
// kernel checks a capability first (EPERM there too), its sys_enter tracepoint fires there and
// never under the jail's filter (seccomp refuses before it).
void expect_denied_by_seccomp(const std::string& code, const std::string& syscall) {
  Probe filtered = run_probe(code, 20000, {}, {nullptr, {syscall}});
  expect_blocked(filtered, kEperm);
  Probe open = run_probe(code, 20000, {}, {&allow_all(), {syscall}});
  ASSERT_TRUE(open.report.is_object()) << "the comparison probe printed nothing: " << open.outcome.output;
  if (answer(open) != answer(filtered)) return;  // told apart by the answer
  auto in_filtered = filtered.sys_enter[syscall], in_open = open.sys_enter[syscall];
  if (!in_filtered || !in_open) {
    std::printf("[   note   ] %s: EPERM with and without the filter and no tracepoint counter here (rootless): not told apart\n",
                syscall.c_str());
    return;
  }
  EXPECT_EQ(*in_filtered, 0u) << syscall << " entered the kernel under the filter";
  EXPECT_GE(*in_open, 1u) << "the probe never called " << syscall;
}

// `code` calls `syscall`, which the filter lets through: the kernel itself refused it (`reason`).
void expect_refused_by_the_kernel(const std::string& code, const std::string& syscall, const std::string& reason) {
  Probe p = run_probe(code, 20000, {}, {nullptr, {syscall}});
  expect_blocked(p, reason);
  if (auto n = p.sys_enter[syscall]) EXPECT_GE(*n, 1u) << syscall << " never reached the kernel: the filter refused it";
  else std::printf("[   note   ] %s: no tracepoint counter here (rootless): the refusing layer is not checked\n", syscall.c_str());
}

}  // namespace

TEST(Containment, JailHasOwnIsolatedNetworkNamespace) {
  JailConfig cfg;
  set_probe_code(cfg, "import socket; print(socket.gethostname())");
  struct stat host_ns{};
  ASSERT_EQ(stat("/proc/self/ns/net", &host_ns), 0);
  modelvet::sandbox::NetnsView seen;
  auto out = modelvet::sandbox::run_jail(cfg, [&](const JailHandle& h, std::string*) {
    seen = h.netns;
    return h.netns.isolated();
  });
  ASSERT_TRUE(out.ran) << out.error;
  EXPECT_NE(seen.inode, host_ns.st_ino);
  EXPECT_EQ(seen.interfaces, (std::vector<std::string>{"lo", modelvet::sandbox::kJailNic}));  // lo and the sink NIC
  EXPECT_EQ(seen.ipv4_routes, 2);  // default via the gateway and the NIC's /24, both through the sink
  EXPECT_NE(out.output.find(modelvet::sandbox::kJailHostname), std::string::npos);
  EXPECT_TRUE(out.clean_teardown);
  if (kForked) {
    EXPECT_EQ(out.launch, "zygote pickle");
    fs::remove_all(fs::path(cfg.model_path).parent_path());
  }
}

TEST(Containment, WriteToHostPathFails) {
  std::string marker = host_private_dir() + "/modelvet-escape-marker";
  fs::remove(marker);
  auto p = run_probe(attempt(indent("open('" + marker + "', 'w').write('x')")));
  expect_blocked(p, host_private_reason());  // the host's directory is not the jail's
  EXPECT_FALSE(fs::exists(marker));
}

TEST(Containment, ReadOfHostSecretFails) {
  std::string secret = "modelvet-host-secret-" + std::to_string(std::random_device{}());
  std::string path = host_private_dir() + "/.modelvet-test-secret";
  std::ofstream(path) << secret;
  auto p = run_probe(attempt(indent("print(open('" + path + "').read())")));
  expect_blocked(p, host_private_reason());
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
  expect_blocked(p, "ConnectionRefusedError(111,");  // the jail's own loopback: nothing listens there
  EXPECT_LT(accept(listener, nullptr, nullptr), 0) << "a jail reached the host's loopback";
  close(listener);
}

TEST(Containment, PacketsToOutsideAddressesGoNowhere) {
  // 192.0.2.1 (TEST-NET-1): the default route leads into the jail's sink NIC, which drops the
  // SYN (no peer: nothing leaves the namespace). With no tracer to steer it, the connect times out.
  auto p = run_probe(attempt(indent("socket.create_connection(('192.0.2.1', 80), timeout=2)")));
  expect_blocked(p, "TimeoutError(");
  EXPECT_NE(p.report.value("err", "").find("timed out"), std::string::npos) << p.report.dump();
}

TEST(Containment, CannotKillTheSupervisor) {
  pid_t me = getpid();
  auto p = run_probe(attempt(indent("os.kill(" + std::to_string(me) + ", 9)")));
  expect_blocked(p, "ProcessLookupError(3,");  // no such pid in the jail's pid namespace
  auto p2 = run_probe("import os\ntry:\n    os.kill(-1, 9)\nexcept Exception as e: print(e)\n");
  EXPECT_TRUE(p2.outcome.ran);
  EXPECT_EQ(kill(me, 0), 0);  // still here
}

TEST(Containment, JailSeesOnlyItsOwnProcesses) {
  auto p = run_probe("import os, json\nprint(json.dumps({'pids': sorted(int(d) for d in os.listdir('/proc') if d.isdigit()), 'me': os.getpid()}))");
  ASSERT_TRUE(p.report.contains("pids") && p.report["pids"].is_array() && !p.report["pids"].empty()) << p.outcome.output;
  // The jail's init is pid 1 (`systemd --user`); the loaded code runs under a shell at a high pid
  // beside the desktop session's decoy processes (sandbox/session_tree.h), and nothing else.
  EXPECT_GT(p.report["me"].get<int>(), 2);
  EXPECT_EQ(p.report["pids"].front(), 1);
  EXPECT_EQ(p.report["pids"].size(), modelvet::sandbox::session_processes(modelvet::sandbox::kJailUidBase).size() + 3);
}

// Each with arguments the kernel would accept (or refuse only for want of a capability): the
// filter, not the arguments, is what stops them (tests/test_sandbox_seccomp_jail.cpp tries every
// denied syscall the same way).
TEST(Containment, PtraceOfOtherProcessesDenied) {
  expect_denied_by_seccomp(libc_call("libc.ptrace(16, 1, 0, 0)"), "ptrace");  // PTRACE_ATTACH to the jail's init
}
TEST(Containment, MountDenied) { expect_denied_by_seccomp(libc_call("libc.mount(b'none', b'/tmp', b'tmpfs', 0, None)"), "mount"); }
TEST(Containment, UnshareDenied) { expect_denied_by_seccomp(libc_call("libc.unshare(0x10000000)"), "unshare"); }  // CLONE_NEWUSER
TEST(Containment, SetnsDenied) {
  expect_denied_by_seccomp(libc_call("libc.setns(os.open('/proc/self/ns/net', os.O_RDONLY), 0)"), "setns");
}
TEST(Containment, ChrootDenied) { expect_denied_by_seccomp(libc_call("libc.chroot(b'/tmp')"), "chroot"); }
TEST(Containment, BpfDenied) {
  // BPF_MAP_CREATE of a one-entry array map: a valid attr (type, key and value size, entries).
  expect_denied_by_seccomp(libc_call("libc.syscall(321, 0, ctypes.create_string_buffer(struct.pack('IIII', 2, 4, 4, 1), 72), 72)"), "bpf");
}
TEST(Containment, PerfEventOpenDenied) {
  // A software task-clock counter on itself, user space only: allowed unprivileged (perf_event_paranoid 2).
  expect_denied_by_seccomp(libc_call("libc.syscall(298, ctypes.create_string_buffer(struct.pack('IIQQQQQ', 1, 128, 1, 0, 0, 0, (1 << 5) | (1 << 6)), 128), 0, -1, -1, 0)"),
                           "perf_event_open");
}
TEST(Containment, KeyctlDenied) { expect_denied_by_seccomp(libc_call("libc.syscall(250, 0, -3, 0)"), "keyctl"); }  // GET_KEYRING_ID of the session keyring
TEST(Containment, IoUringDenied) {
  expect_denied_by_seccomp(libc_call("libc.syscall(425, 8, ctypes.create_string_buffer(120))"), "io_uring_setup");  // zeroed io_uring_params
}
TEST(Containment, UserfaultfdDenied) { expect_denied_by_seccomp(libc_call("libc.syscall(323, 1)"), "userfaultfd"); }  // UFFD_USER_MODE_ONLY
TEST(Containment, ModuleLoadingDenied) { expect_denied_by_seccomp(libc_call("libc.syscall(313, 0, b'', 0)"), "finit_module"); }
// Not in the filter: the jail's missing capabilities stop these, in the kernel.
TEST(Containment, SethostnameDenied) {
  expect_refused_by_the_kernel(libc_call("libc.sethostname(b'pwned', 5)"), "sethostname", kEperm);  // CAP_SYS_ADMIN
}
TEST(Containment, RawSocketDenied) {
  expect_refused_by_the_kernel(attempt(indent("socket.socket(socket.AF_PACKET, socket.SOCK_RAW)")), "socket", kEperm);  // CAP_NET_RAW
}

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

TEST(Containment, SystemIsReadOnly) {
  expect_blocked(run_probe(attempt(indent("open('/usr/lib/modelvet-pwned', 'w')"))), "OSError(30,");  // EROFS
}
TEST(Containment, ModelFileIsReadOnly) {
  expect_blocked(run_probe(attempt(indent("open('/home/alice/models/modelvet-test-model.pkl', 'ab').write(b'x')"))),
                 "PermissionError(13,");  // EACCES: not the jail user's to write (and a read-only mount beneath)
}
TEST(Containment, HostShadowNotVisible) {
  expect_blocked(run_probe(attempt(indent("open('/etc/shadow').read()"))), "FileNotFoundError(2,");  // the generated /etc has none
}
TEST(Containment, ProcSysIsNotWritable) {
  expect_blocked(run_probe(attempt(indent("open('/proc/sys/kernel/hostname', 'w').write('pwned')"))), "PermissionError(13,");
  expect_blocked(run_probe(attempt(indent("open('/proc/sysrq-trigger', 'w').write('b')"))), "FileNotFoundError(2,");  // hidden
}
TEST(Containment, SymlinkToHostPathLeadsNowhere) {
  std::string target = host_private_dir() + "/.modelvet-symlink-target";
  std::string secret = "modelvet-symlink-secret-" + std::to_string(std::random_device{}());
  std::ofstream(target) << secret;
  auto p = run_probe(attempt(indent("os.symlink('" + target + "', '/tmp/l')\nprint(open('/tmp/l').read())")));
  expect_blocked(p, host_private_reason());
  EXPECT_EQ(p.outcome.output.find(secret), std::string::npos);
  fs::remove(target);
}
TEST(Containment, NoBlockDevices) { expect_blocked(run_probe(attempt(indent("open('/dev/vda', 'rb')"))), "FileNotFoundError(2,"); }

TEST(Containment, MemoryBombIsContained) {
  if (modelvet::sandbox::kSanitizerBuild) {
    // No address-space limit under the sanitizers (sandbox/limits.h: their shadow memory needs
    // terabytes of it): the memory cgroup is what stops the bomb, where there is one.
    if (modelvet::sandbox::rootless_jails()) GTEST_SKIP() << "sanitizer build, rootless: no limit would stop 16 GiB";
    auto p = run_probe(attempt(indent("b = bytearray(16 << 30)")));
    EXPECT_NE(std::find(p.outcome.limits_hit.begin(), p.outcome.limits_hit.end(), "memory"), p.outcome.limits_hit.end())
        << p.outcome.output;
    return;
  }
  auto p = run_probe(attempt(indent("b = bytearray(16 << 30)")));
  expect_blocked(p, "MemoryError");  // the address-space limit
}

TEST(Containment, DiskFillStopsAtScratchCap) {
  // Files of 128 MiB each, under the 256 MiB file-size limit: what stops them is the scratch cap.
  auto p = run_probe(attempt(indent("for i in range(8):\n    with open('/tmp/fill%d' % i, 'wb') as f:\n"
                                    "        for _ in range(128): f.write(b'\\0' * (1 << 20))")));
  expect_blocked(p, "OSError(28,");  // ENOSPC: the scratch tmpfs is full
}

TEST(Containment, ForkFloodIsBounded) {
  modelvet::sandbox::Limits limits;
  limits.processes = 64;  // room for the session's processes and a harness's threads, not for 200 forks
  auto p = run_probe(attempt(indent(
      "import time\nkids = []\nfor i in range(200):\n    pid = os.fork()\n    if pid == 0:\n        time.sleep(20)\n        os._exit(0)\n    kids.append(pid)")),
      20000, limits);
  expect_blocked(p, "BlockingIOError(11,");  // EAGAIN: fork fails long before 200
  // Where the host has a pids controller, the hit is reported as what it was.
  if (modelvet::sandbox::V1Limits::create("probe-pids", 8, 0).describe().find("pids") != std::string::npos) {
    EXPECT_NE(std::find(p.outcome.limits_hit.begin(), p.outcome.limits_hit.end(), "pids"), p.outcome.limits_hit.end());
  }
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
  if (!p.outcome.handle.user_namespace) {
    EXPECT_FALSE(fs::exists(p.outcome.handle.cgroup_path)) << "leftover cgroup";
  }
  ASSERT_FALSE(p.outcome.handle.staging_dir.empty());
  EXPECT_FALSE(fs::exists(p.outcome.handle.staging_dir)) << "leftover staging dir";
  EXPECT_NE(kill(p.outcome.handle.init_pid, 0), 0) << "the jail's init survived";
}

#ifdef MODELVET_ZYGOTE_BINARY
namespace {

// Every way a payload could touch another process by its host pid, tried on each pid: signal,
// ptrace, /proc/<pid>/mem, process_vm_readv. Prints {"<pid>": {"kill": repr, ...}}.
std::string attack_pids(const std::vector<pid_t>& pids) {
  std::string list;
  for (pid_t p : pids) list += std::to_string(p) + ",";
  return "import json, os, ctypes\n"
         "libc = ctypes.CDLL(None, use_errno=True)\n"
         "def call(f):\n"
         "    try:\n"
         "        r = f()\n"
         "        if r == -1: raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))\n"
         "        return 'ok'\n"
         "    except BaseException as e:\n"
         "        return repr(e)\n"
         "buf = ctypes.create_string_buffer(64)\n"
         "class IOV(ctypes.Structure): _fields_ = [('base', ctypes.c_void_p), ('len', ctypes.c_size_t)]\n"
         "local, remote = IOV(ctypes.addressof(buf), 64), IOV(0x400000, 64)\n"
         "out = {}\n"
         "for pid in [" + list + "]:\n"
         "    out[str(pid)] = {\n"
         "        'kill': call(lambda: os.kill(pid, 9)),\n"
         "        'ptrace': call(lambda: libc.ptrace(16, pid, 0, 0)),\n"
         "        'mem': call(lambda: open('/proc/%d/mem' % pid, 'rb').read(1)),\n"
         "        'vm_read': call(lambda: libc.syscall(310, pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)),\n"
         "    }\n"
         "print(json.dumps(out))\n";
}

void expect_untouchable(const Probe& p, const std::vector<pid_t>& pids) {
  const nlohmann::json& report = p.report;
  ASSERT_TRUE(report.is_object()) << "the attack printed nothing: " << p.outcome.output;
  for (pid_t pid : pids) {
    const auto& r = report.at(std::to_string(pid));
    SCOPED_TRACE("host pid " + std::to_string(pid) + ": " + r.dump());
    EXPECT_EQ(r.value("kill", "").rfind("ProcessLookupError(3,", 0), 0u);  // no such pid in the jail
    EXPECT_EQ(r.value("ptrace", "").rfind(kEperm, 0), 0u);                 // the filter denies ptrace
    EXPECT_EQ(r.value("mem", "").rfind("FileNotFoundError(2,", 0), 0u);    // not in the jail's /proc
    EXPECT_NE(r.value("vm_read", "ok"), "ok");
  }
}

std::vector<pid_t> descendants(pid_t root) {
  std::vector<pid_t> out{root};
  for (size_t i = 0; i < out.size(); ++i) {
    std::ifstream children("/proc/" + std::to_string(out[i]) + "/task/" + std::to_string(out[i]) + "/children");
    for (pid_t c; children >> c;) out.push_back(c);
  }
  return out;
}

}  // namespace

// The zygote is a host process that holds every imported library: a payload given its host pid
// (and its bridge's) can neither signal, trace nor read it, and it goes on serving.
TEST(ZygoteJail, PayloadCannotSignalTraceOrReadTheZygote) {
  ASSERT_TRUE(zygote());
  const pid_t zpid = zygote()->pid();
  auto p = run_probe(attack_pids({zpid, getpid()}));
  expect_untouchable(p, {zpid, getpid()});
  EXPECT_EQ(kill(zpid, 0), 0) << "the zygote died";
  EXPECT_TRUE(zygote()->healthy());
  EXPECT_EQ(zygote()->pid(), zpid) << "replaced: the attack hurt it";
  auto after = run_probe("print('{\"ok\": true}')");
  EXPECT_TRUE(after.report.value("ok", false)) << after.outcome.output;
}

// Two jails forked from one zygote at once: the second, given the first's host pids, reaches none
// of them, and the first runs to its own end.
TEST(ZygoteJail, PayloadCannotReachASiblingJail) {
  ASSERT_TRUE(zygote());
  std::promise<pid_t> sibling_init;
  auto sibling_ready = sibling_init.get_future();
  // The sibling spins (bounded: 30 s) until the test drops a file into its /tmp from the host.
  Probe sibling;
  std::thread first([&] {
    sibling = run_probe(
        "import os, time, json\n"
        "t = time.monotonic()\n"
        "while not os.path.exists('/tmp/mv-sibling-done') and time.monotonic() - t < 30:\n"
        "    sum(range(1000))\n"
        "print(json.dumps({'ok': True, 'released': os.path.exists('/tmp/mv-sibling-done')}))\n",
        40000, {}, {}, [&](const JailHandle& h, std::string*) {
          sibling_init.set_value(h.init_pid);
          return true;
        });
  });
  const pid_t init = sibling_ready.get();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // the sibling's harness is running
  std::vector<pid_t> targets = descendants(init);
  targets.push_back(zygote()->pid());
  auto attacker = run_probe(attack_pids(targets));
  expect_untouchable(attacker, targets);
  std::ofstream(fs::path("/proc") / std::to_string(init) / "root/tmp/mv-sibling-done") << "1";
  first.join();
  EXPECT_TRUE(sibling.report.value("ok", false)) << sibling.outcome.output;
  EXPECT_TRUE(sibling.report.value("released", false)) << "the sibling ended before the attack was over";
  EXPECT_EQ(sibling.outcome.term_signal, 0);
  EXPECT_GE(targets.size(), 3u) << "the sibling's processes were not found on the host";
}

// A zygote that died is replaced by a new one, never handed out again.
TEST(ZygoteJail, DeadZygoteIsReplacedNotReused) {
  modelvet::ZygotePool pool(MODELVET_ZYGOTE_BINARY);
  std::string error;
  auto first = pool.for_loader("pickle", &error);
  ASSERT_TRUE(first) << error;
  const pid_t dead = first->pid();
  ASSERT_EQ(kill(dead, SIGKILL), 0);  // our own child
  for (int i = 0; i < 200 && first->healthy(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_FALSE(first->healthy());
  auto second = pool.for_loader("pickle", &error);
  ASSERT_TRUE(second) << error;
  EXPECT_NE(second->pid(), dead);
  EXPECT_TRUE(second->healthy());
  auto stats = pool.stats();
  EXPECT_EQ(stats["started"], 2);
  EXPECT_EQ(stats["replaced"], 1);
}
#endif
