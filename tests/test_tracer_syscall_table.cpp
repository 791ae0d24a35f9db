// trace/syscall_table.h against the tracer: every name is this architecture's syscall of that
// number for libseccomp too, the ptrace fallback records exactly the table's recorded rows with
// the strings of the arguments the table names, and a child calling each of them is recorded
// alike, row by row, by the eBPF backend (attempts.bpf.h) and the ptrace one.
#include <sched.h>
#include <seccomp.h>
#include <sys/syscall.h>

#include <algorithm>
#include <iterator>
#include <set>
#include <string_view>

#include "tests/test_tracer_support.h"
#include "trace/syscall_table.h"
#include "tracer/ptrace_records.h"
#include "tracer/ptrace_tracer.h"
#include "tracer/record_decoder.h"

namespace modelvet::tracer::testing {
namespace {

// A row with its number, from the same SYS_##name the ptrace switch uses.
struct NumberedRow {
  SyscallRow row;
  long nr;
};
#define MV_NUMBERED_ROW(name, family, str0, str1, seccomp) NumberedRow{{#name, family, str0, str1, seccomp}, SYS_##name},
constexpr NumberedRow kRows[] = {MV_SYSCALL_TABLE(MV_NUMBERED_ROW)};
#undef MV_NUMBERED_ROW

// Argument i of a test call, when it is a string: a path that exists nowhere.
constexpr const char* kArgPaths[6] = {"/nonexistent/mv-table/arg0", "/nonexistent/mv-table/arg1",
                                      "/nonexistent/mv-table/arg2", "/nonexistent/mv-table/arg3",
                                      "/nonexistent/mv-table/arg4", "/nonexistent/mv-table/arg5"};

bool recorded(const SyscallRow& row) { return row.family != MV_UNRECORDED; }

// The decoder's field for str[1] (tracer/record_decoder.cpp).
const char* second_string_field(std::string_view name) { return name == "mount" ? "mount_source" : "path2"; }

// What an event of the row must say about its string arguments.
void expect_strings(const SyscallRow& row, const nlohmann::json& d) {
  if (row.str0 == MV_NO_STR) EXPECT_FALSE(d.contains("path")) << d.dump();
  else EXPECT_EQ(d.value("path", ""), kArgPaths[row.str0]) << d.dump();
  const char* second = second_string_field(row.name);
  if (row.str1 == MV_NO_STR) EXPECT_FALSE(d.contains(second)) << d.dump();
  else EXPECT_EQ(d.value(second, ""), kArgPaths[row.str1]) << d.dump();
}

TEST(TracerSyscallTable, NamesAreThisArchitecturesSyscalls) {
  std::set<std::string> names;
  for (const NumberedRow& r : kRows) {
    SCOPED_TRACE(r.row.name);
    EXPECT_TRUE(names.insert(r.row.name).second) << "listed twice";
    // The deny list is resolved by name, the switches by number: both must mean one syscall.
    EXPECT_EQ(seccomp_syscall_resolve_name(r.row.name), r.nr);
    EXPECT_EQ(syscall_name(static_cast<uint64_t>(r.nr)), r.row.name) << "events name it otherwise";
  }
}

TEST(TracerSyscallTable, PtraceRecordsFollowTheTable) {
  TraceeMemory self(getpid());  // the strings are read from this process, as from a tracee
  for (const NumberedRow& r : kRows) {
    SCOPED_TRACE(r.row.name);
    TracedCall call;
    call.nr = static_cast<uint64_t>(r.nr);
    for (int i = 0; i < 6; ++i) call.args[i] = reinterpret_cast<uint64_t>(kArgPaths[i]);
    call.ret = -EINVAL;
    mv_syscall_rec rec{};
    std::optional<int> ring = build_syscall_record(getpid(), call, self, &rec);
    if (!recorded(r.row)) {
      EXPECT_FALSE(ring) << "an MV_UNRECORDED row is recorded";
      continue;
    }
    ASSERT_TRUE(ring) << "a recorded row is not recorded";
    EXPECT_EQ(*ring, MV_RING_HIGH);

    rec.h.type = MV_REC_SYSCALL;
    auto decoded = decode_record(&rec, sizeof(rec));
    ASSERT_TRUE(decoded);
    const Event& e = decoded->event;
    EXPECT_EQ(e.data.value("syscall", ""), r.row.name);
    if (r.row.family == MV_ATTEMPT) {
      EXPECT_EQ(e.kind, "syscall_attempt");
      expect_strings(r.row, e.data);
    } else {
      EXPECT_TRUE(e.kind == "ptrace" || e.kind == "kill") << "MV_PROCESS rows have their own kind, not " << e.kind;
    }
  }
}

// The arguments the child passes: -1 (an invalid flag, fd, pid, count or pointer for each
// recorded row), the table's string arguments as paths that do not exist, and the child itself
// as the target of signals (kill(-1, …) would mean every process). A new row whose -1
// arguments could act needs its own case here.
void harmless_args(const NumberedRow& r, uint64_t a[6]) {
  for (int i = 0; i < 6; ++i) a[i] = ~0ull;
  if (r.row.str0 != MV_NO_STR) a[r.row.str0] = reinterpret_cast<uint64_t>(kArgPaths[r.row.str0]);
  if (r.row.str1 != MV_NO_STR) a[r.row.str1] = reinterpret_cast<uint64_t>(kArgPaths[r.row.str1]);
  uint64_t pid = static_cast<uint64_t>(getpid()), tid = static_cast<uint64_t>(syscall(SYS_gettid));
  if (r.nr == SYS_kill) a[0] = pid, a[1] = 0;                 // signal 0: a permission check only
  if (r.nr == SYS_tkill) a[0] = tid, a[1] = 0;
  if (r.nr == SYS_tgkill) a[0] = pid, a[1] = tid, a[2] = 0;
}

// In the child: first a user namespace of its own, so that it holds no capability in the
// host's namespaces and any privileged call is refused whatever its arguments; then each
// recorded row once. Nothing else: fork-safe (no allocation).
int call_every_recorded_row() {
  if (unshare(CLONE_NEWUSER) != 0) return 100;
  for (const NumberedRow& r : kRows) {
    if (!recorded(r.row)) continue;
    uint64_t a[6];
    harmless_args(r, a);
    syscall(r.nr, a[0], a[1], a[2], a[3], a[4], a[5]);
  }
  return 0;
}

// The events a table row can produce, keyed by every field: both backends must agree on all.
std::multiset<std::string> table_events(const Events& events) {
  std::multiset<std::string> out;
  for (const auto& e : events) {
    if (e.kind != "syscall_attempt" && e.kind != "ptrace" && e.kind != "kill") continue;
    out.insert(nlohmann::json{{"kind", e.kind}, {"pid", e.pid}, {"data", e.data}}.dump());
  }
  return out;
}

TEST(TracerSyscallTable, BothBackendsRecordEveryRecordedRow) {
  Tracer* ebpf = shared_tracer();
  ASSERT_NE(ebpf, nullptr);
  PtraceTracer ptracer;
  TestCgroup cg("syscall-table");
  std::string error;
  auto ebpf_session = ebpf->watch(cg.fd(), RedirectTarget{}, &error);
  ASSERT_TRUE(ebpf_session) << error;

  HeldChild child(call_every_recorded_row, &cg);
  ASSERT_GT(child.pid, 0);
  auto ptrace_session = ptracer.watch_process(child.pid, &error);
  ASSERT_TRUE(ptrace_session) << error;
  int status = child.release_and_wait();
  ASSERT_TRUE(WIFEXITED(status)) << status;
  ASSERT_EQ(WEXITSTATUS(status), 0) << "100: the child could not enter a user namespace";

  Events from_ptrace = ptracer.finish(*ptrace_session);
  Events from_ebpf = ebpf->finish(*ebpf_session);
  auto p = table_events(from_ptrace), b = table_events(from_ebpf);
  EXPECT_EQ(p, b) << "only ptrace:\n" << only_in_first(p, b) << "only ebpf:\n" << only_in_first(b, p);

  for (const NumberedRow& r : kRows) {
    if (!recorded(r.row)) continue;
    SCOPED_TRACE(r.row.name);
    const char* kind = r.row.family == MV_ATTEMPT ? "syscall_attempt" : r.nr == SYS_ptrace ? "ptrace" : "kill";
    // The row's own call (the child's first step is an unshare too, with a real flag).
    auto ours = [&](const nlohmann::json& d) {
      return d.value("syscall", "") == r.row.name && (r.nr != SYS_unshare || d["args"][0] == ~0ull);
    };
    const Event* e = find_event(from_ebpf, kind, ours);
    ASSERT_NE(e, nullptr) << "eBPF did not record it as " << kind << "\n" << dump(from_ebpf);
    if (r.row.family == MV_ATTEMPT) expect_strings(r.row, e->data);
  }
}

}  // namespace
}  // namespace modelvet::tracer::testing
