// The ptrace fallback on its own: threads, a refused seize, the fail-closed finish, and the
// seccomp filter evaluation it uses to tell denials from ordinary -EPERM results.
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <thread>

#include "tests/test_tracer_support.h"
#include "tracer/ptrace_tracer.h"
#include "tracer/seccomp_eval.h"

namespace modelvet::tracer::testing {
namespace {

// Traces the child from its release to its exit, which must be a clean 0; its events in *events.
void trace_until_exit(HeldChild& child, Events* events) {
  PtraceTracer tracer;
  std::string error;
  auto session = tracer.watch_process(child.pid, &error);
  ASSERT_TRUE(session) << error;
  int status = child.release_and_wait();
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  *events = tracer.finish(*session);
}

TEST(TracerFallbackPtrace, ThreadsAreFollowedAndReportedByTid) {
  std::string path = fmt::format("/tmp/mv-ptrace-thread-{}", getpid());
  HeldChild child([&] {
    pid_t tid = 0;
    std::thread t([&] {
      tid = static_cast<pid_t>(syscall(SYS_gettid));
      int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (fd >= 0) close(fd);
    });
    t.join();
    unlink(path.c_str());
    return tid > 0 ? 0 : 1;
  });
  Events events;
  ASSERT_NO_FATAL_FAILURE(trace_until_exit(child, &events));
  const Event* open_event = nullptr;
  for (const auto& e : events)
    if (e.kind == "open" && e.data.value("path", "") == path) open_event = &e;
  ASSERT_NE(open_event, nullptr) << dump(events);
  EXPECT_EQ(open_event->pid, child.pid);
  ASSERT_TRUE(open_event->data.contains("tid"));
  EXPECT_NE(open_event->data["tid"].get<int>(), child.pid);
  EXPECT_TRUE(events_of_kind(events, "fork").empty()) << "a thread is not a fork";
  EXPECT_EQ(events_of_kind(events, "exit").size(), 1u);
  EXPECT_TRUE(std::is_sorted(events.begin(), events.end(), [](const Event& a, const Event& b) { return a.t_ns < b.t_ns; }));
}

TEST(TracerFallbackPtrace, RefusedSeizeIsAnError) {
  PtraceTracer tracer;
  std::string error;
  EXPECT_EQ(tracer.watch_process(0x3fffffff, &error), nullptr);  // no such process
  EXPECT_NE(error.find("PTRACE_SEIZE"), std::string::npos) << error;
}

TEST(TracerFallbackPtrace, FinishKillsWhatIsStillTracedAndSaysSo) {
  HeldChild child([] {
    sleep(30);  // bounded; killed long before
    return 0;
  });
  PtraceTracer tracer;
  std::string error;
  auto session = tracer.watch_process(child.pid, &error);
  ASSERT_TRUE(session) << error;
  (void)!write(child.go_w, "G", 1);
  close(child.go_w);
  Events events = tracer.finish(*session, 200);
  int status = 0;
  ASSERT_EQ(waitpid(child.pid, &status, 0), child.pid);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "PTRACE_O_EXITKILL: nothing runs unobserved";
  EXPECT_EQ(tracer.stats(*session).per_buffer["killed"], true);
  EXPECT_TRUE(tracer.finish(*session).empty()) << "a second finish returns nothing new";
}

// The interpreter against the kernel: the same filter, loaded into a child, decides the same.
TEST(TracerFallbackPtrace, SeccompEvaluationMatchesTheKernel) {
  HeldChild child([] {
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(chroot), 0);
    seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(unshare), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER));
    if (seccomp_load(ctx) != 0) return 1;
    seccomp_release(ctx);
    if (chroot("/nonexistent") == 0 || errno != EPERM) return 2;
    if (unshare(CLONE_NEWUSER) == 0 || errno != EACCES) return 3;
    unshare(CLONE_NEWUTS);  // allowed by the filter (and permitted to root)
    return 0;
  });
  Events events;
  ASSERT_NO_FATAL_FAILURE(trace_until_exit(child, &events));
  auto denied = events_of_kind(events, "denied");
  std::set<std::string> denied_calls;
  for (const Event* e : denied) denied_calls.insert(e->data["syscall"].get<std::string>());
  EXPECT_EQ(denied_calls, (std::set<std::string>{"chroot", "unshare"})) << dump(events);
  bool uts_attempt = false;
  for (const Event* e : events_of_kind(events, "syscall_attempt"))
    if (e->data["syscall"] == "unshare" && e->data["args"][0] == CLONE_NEWUTS) uts_attempt = true;
  EXPECT_TRUE(uts_attempt) << "the allowed unshare is an attempt, not a denial";
}

// The interpreter alone, on the program libseccomp generates (seccomp_export_bpf).
TEST(TracerFallbackPtrace, SeccompEvaluationOfAnExportedFilter) {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  ASSERT_NE(ctx, nullptr);
  ASSERT_EQ(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(mount), 0), 0);
  ASSERT_EQ(seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, SCMP_SYS(kexec_load), 0), 0);
  ASSERT_EQ(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_EQ, AF_PACKET)), 0);
  int fd = memfd_create("filter", MFD_CLOEXEC);
  ASSERT_EQ(seccomp_export_bpf(ctx, fd), 0);
  seccomp_release(ctx);
  SeccompProgram prog(static_cast<size_t>(lseek(fd, 0, SEEK_END)) / sizeof(sock_filter));
  ASSERT_EQ(pread(fd, prog.data(), prog.size() * sizeof(sock_filter), 0), static_cast<ssize_t>(prog.size() * sizeof(sock_filter)));
  close(fd);

  auto call = [](long nr, uint64_t a0 = 0) {
    TracedCall c;
    c.nr = static_cast<uint64_t>(nr);
    c.args[0] = a0;
    c.arch = AUDIT_ARCH_X86_64;
    return c;
  };
  EXPECT_EQ(seccomp_verdict({prog}, call(SYS_mount)), SECCOMP_RET_ERRNO | EPERM);
  EXPECT_EQ(seccomp_verdict({prog}, call(SYS_kexec_load)), SECCOMP_RET_KILL_PROCESS);
  EXPECT_EQ(seccomp_verdict({prog}, call(SYS_socket, AF_PACKET)), SECCOMP_RET_ERRNO | EPERM);
  EXPECT_EQ(seccomp_verdict({prog}, call(SYS_socket, AF_INET)), SECCOMP_RET_ALLOW);
  EXPECT_EQ(seccomp_verdict({prog}, call(SYS_getpid)), SECCOMP_RET_ALLOW);
  EXPECT_TRUE(seccomp_denies({prog}, call(SYS_mount)));
  EXPECT_FALSE(seccomp_denies({prog}, call(SYS_kexec_load))) << "a kill is not an errno denial";
  TracedCall i386 = call(SYS_getpid);
  i386.arch = AUDIT_ARCH_I386;  // libseccomp's default for a foreign arch: kill
  EXPECT_EQ(seccomp_verdict({prog}, i386), SECCOMP_RET_KILL_THREAD);
  // Several filters: the most restrictive action wins, as in the kernel.
  EXPECT_EQ(seccomp_verdict({{}, prog}, call(SYS_mount)) & SECCOMP_RET_ACTION_FULL, SECCOMP_RET_KILL_PROCESS)
      << "an empty program falls off its end: the kernel would never load it";
  EXPECT_EQ(seccomp_verdict({}, call(SYS_mount)), SECCOMP_RET_ALLOW);
}

}  // namespace
}  // namespace modelvet::tracer::testing
