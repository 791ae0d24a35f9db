// The eBPF tracer on real actions of a jailed child: every kind of event with its fields, and
// nothing from processes outside the jail's cgroup.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <algorithm>

#include "tests/test_tracer_support.h"

namespace modelvet::tracer::testing {
namespace {

// The child's script: each step is one thing the tracer must see.
int jailed_actions(const std::string& dir, uint16_t port) {
  std::string file = dir + "/out.txt", moved = dir + "/moved.txt", sub = dir + "/sub";
  int fd = open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return 1;
  if (write(fd, "hello", 5) != 5) return 2;
  close(fd);
  if (rename(file.c_str(), moved.c_str()) != 0) return 3;
  if (chmod(moved.c_str(), 0600) != 0) return 4;
  if (unlink(moved.c_str()) != 0) return 5;
  if (mkdir(sub.c_str(), 0700) != 0) return 6;
  rmdir(sub.c_str());

  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0) return 7;  // nothing listens
  close(s);

  unshare(CLONE_NEWUTS);  // an escape-toolbox call (harmless: only this child's UTS namespace)
  kill(getpid(), 0);
  int mfd = static_cast<int>(syscall(SYS_memfd_create, "mv-payload", 0));
  if (mfd >= 0) close(mfd);

  int lib = open("/bin/true", O_RDONLY | O_CLOEXEC);
  void* m = mmap(nullptr, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, lib, 0);
  if (m == MAP_FAILED) return 8;
  munmap(m, 4096);
  close(lib);

  const char* missing[] = {"/nonexistent/mv-prog", "-x", nullptr};
  if (spawn_and_wait(missing) != 127) return 9;  // execv fails: ENOENT
  const char* argv[] = {"/bin/true", "alpha", "beta gamma", nullptr};
  return spawn_and_wait(argv);
}

const Event* find(const Events& events, const std::string& kind, const std::function<bool(const nlohmann::json&)>& pred) {
  return find_event(events, kind, pred);
}

TEST(TracerEvents, RecordsWhatTheJailedChildDoesWithFields) {
  Tracer* tracer = shared_tracer();
  ASSERT_NE(tracer, nullptr);
  EXPECT_EQ(tracer->backend(), "ebpf");
  TestCgroup cg("events");
  std::string error;
  auto session = tracer->watch(cg.fd(), RedirectTarget{}, &error);
  ASSERT_NE(session, nullptr) << error;

  std::string dir = fmt::format("/tmp/mv-tracer-test-{}", getpid());
  mkdir(dir.c_str(), 0755);
  uint16_t port = closed_loopback_port();
  pid_t child = 0;
  int status = run_child(&cg, [&] { return jailed_actions(dir, port); }, &child);
  rmdir(dir.c_str());
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;

  Events events = tracer->finish(*session);
  ASSERT_FALSE(events.empty());
  SCOPED_TRACE(dump(events));
  EXPECT_TRUE(std::is_sorted(events.begin(), events.end(), [](const Event& a, const Event& b) { return a.t_ns < b.t_ns; }));
  for (const auto& e : events) EXPECT_EQ(e.source, "kernel");

  const Event* open_w = find(events, "open", [&](auto& d) { return d["path"] == dir + "/out.txt"; });
  ASSERT_NE(open_w, nullptr);
  EXPECT_EQ(open_w->pid, child);
  EXPECT_EQ(open_w->data["flags_str"], "O_WRONLY|O_CREAT|O_TRUNC");
  EXPECT_EQ(open_w->data["flags"], O_WRONLY | O_CREAT | O_TRUNC);
  EXPECT_GE(open_w->data["ret"].get<int>(), 3);

  const Event* wr = find(events, "write", [&](auto& d) { return d.value("path", "") == dir + "/out.txt"; });
  ASSERT_NE(wr, nullptr);
  EXPECT_EQ(wr->data["bytes"], 5);
  EXPECT_EQ(wr->data["fd"], open_w->data["ret"]);

  const Event* ren = find(events, "rename", [&](auto& d) { return d["path"] == dir + "/out.txt"; });
  ASSERT_NE(ren, nullptr);
  EXPECT_EQ(ren->data["new_path"], dir + "/moved.txt");
  EXPECT_EQ(ren->data["ret"], 0);
  const Event* ch = find(events, "chmod", [&](auto& d) { return d.value("path", "") == dir + "/moved.txt"; });
  ASSERT_NE(ch, nullptr);
  EXPECT_EQ(ch->data["mode"], 0600);
  EXPECT_NE(find(events, "unlink", [&](auto& d) { return d["path"] == dir + "/moved.txt" && d["ret"] == 0; }), nullptr);
  EXPECT_NE(find(events, "mkdir", [&](auto& d) { return d["path"] == dir + "/sub" && d["mode"] == 0700; }), nullptr);

  const Event* conn = find(events, "connect", [&](auto& d) { return d.value("port", 0) == port; });
  ASSERT_NE(conn, nullptr);
  EXPECT_EQ(conn->data["family"], "inet");
  EXPECT_EQ(conn->data["addr"], "127.0.0.1");
  EXPECT_EQ(conn->data["proto"], "tcp");
  EXPECT_EQ(conn->data["ret"], -ECONNREFUSED);
  const Event* seen = find(events, "net_redirect", [&](auto& d) { return d["orig_port"] == port; });
  ASSERT_NE(seen, nullptr) << "the connect4 hook saw the destination";
  EXPECT_EQ(seen->data["orig_addr"], "127.0.0.1");
  EXPECT_EQ(seen->data["proto"], "tcp");
  EXPECT_EQ(seen->data["redirected"], false);
  EXPECT_NE(find(events, "socket", [](auto& d) { return d["family"] == "inet" && d["type"] == "tcp"; }), nullptr);

  const Event* uns = find(events, "syscall_attempt", [](auto& d) { return d["syscall"] == "unshare"; });
  ASSERT_NE(uns, nullptr);
  EXPECT_EQ(uns->data["args"][0], CLONE_NEWUTS);
  EXPECT_EQ(uns->data["args"].size(), 6u);
  EXPECT_NE(find(events, "kill", [&](auto& d) { return d["target_pid"] == child && d["sig"] == 0; }), nullptr);
  EXPECT_NE(find(events, "memfd_create", [](auto& d) { return d["name"] == "mv-payload"; }), nullptr);
  const Event* mx = find(events, "mmap_exec", [](auto& d) { return d.value("path", "") == "/bin/true"; });
  ASSERT_NE(mx, nullptr);
  EXPECT_EQ(mx->data["prot"].get<int>() & PROT_EXEC, PROT_EXEC);

  // A failed exec: recorded from the caller's memory, with its error.
  const Event* failed = find(events, "exec", [](auto& d) { return d["filename"] == "/nonexistent/mv-prog"; });
  ASSERT_NE(failed, nullptr);
  EXPECT_EQ(failed->data["ret"], -ENOENT);
  EXPECT_EQ(failed->data["argv"], nlohmann::json({"/nonexistent/mv-prog", "-x"}));

  // The grandchild: fork, exec with its arguments and result, exit.
  auto forks = events_of_kind(events, "fork");
  ASSERT_EQ(forks.size(), 2u);
  for (const Event* f : forks) EXPECT_EQ(f->pid, child);
  int failed_child = forks[0]->data["child_pid"], grandchild = forks[1]->data["child_pid"];
  EXPECT_EQ(failed->pid, failed_child);
  const Event* exec = find(events, "exec", [](auto& d) { return d["filename"] == "/bin/true"; });
  ASSERT_NE(exec, nullptr);
  EXPECT_EQ(exec->pid, grandchild);
  EXPECT_EQ(exec->data["argv"], nlohmann::json({"/bin/true", "alpha", "beta gamma"}));
  EXPECT_EQ(exec->data["ppid"], child);
  EXPECT_EQ(exec->data["ret"], 0);
  EXPECT_EQ(exec->data["comm"], "true");
  EXPECT_EQ(exec->data["truncated"], false);
  const Event* gexit = find(events, "exit", [&](auto&) { return true; });
  ASSERT_NE(gexit, nullptr);
  EXPECT_NE(find(events, "exit", [&](auto& d) { return d["code"] == 0 && d["signal"] == 0; }), nullptr);

  // Only the child and its descendant appear.
  for (const auto& e : events)
    EXPECT_TRUE(e.pid == child || e.pid == grandchild || e.pid == failed_child) << to_json(e).dump();

  Stats st = tracer->stats(*session);
  EXPECT_EQ(st.events, events.size());
  EXPECT_EQ(st.dropped, 0u);
  EXPECT_GE(st.per_buffer["high"]["emitted"].get<uint64_t>(), 10u);
  EXPECT_TRUE(tracer->finish(*session).empty()) << "a second finish returns nothing new";
}

TEST(TracerEvents, ProcessesOutsideTheCgroupAreNotRecorded) {
  Tracer* tracer = shared_tracer();
  ASSERT_NE(tracer, nullptr);
  TestCgroup cg("outside");
  std::string error;
  auto session = tracer->watch(cg.fd(), RedirectTarget{}, &error);
  ASSERT_NE(session, nullptr) << error;
  std::string outside = fmt::format("/tmp/mv-tracer-outside-{}", getpid());
  std::string inside = fmt::format("/tmp/mv-tracer-inside-{}", getpid());
  auto touch = [](const std::string& path) {
    return [path] {
      int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd < 0) return 1;
      close(fd);
      unlink(path.c_str());
      const char* argv[] = {"/bin/true", "outside-or-inside", nullptr};
      return spawn_and_wait(argv);
    };
  };
  EXPECT_EQ(run_child(nullptr, touch(outside)), 0);  // same actions, not in the cgroup
  pid_t child = 0;
  EXPECT_EQ(run_child(&cg, touch(inside), &child), 0);
  Events events = tracer->finish(*session);
  SCOPED_TRACE(dump(events));
  bool saw_inside = false;
  for (const auto& e : events) {
    EXPECT_EQ(e.data.value("path", "").find("outside"), std::string::npos) << to_json(e).dump();
    if (e.data.value("path", "") == inside) saw_inside = true;
    EXPECT_NE(e.pid, getpid()) << "the test process itself is outside the jail";
  }
  EXPECT_TRUE(saw_inside);
  EXPECT_EQ(events_of_kind(events, "exec").size(), 1u);
}

TEST(TracerEvents, ConcurrentJailsNeverMix) {
  Tracer* tracer = shared_tracer();
  ASSERT_NE(tracer, nullptr);
  TestCgroup a("jail-a"), b("jail-b");
  std::string error;
  auto sa = tracer->watch(a.fd(), RedirectTarget{}, &error);
  ASSERT_NE(sa, nullptr) << error;
  auto sb = tracer->watch(b.fd(), RedirectTarget{}, &error);
  ASSERT_NE(sb, nullptr) << error;
  EXPECT_EQ(tracer->watch(a.fd(), RedirectTarget{}, &error), nullptr) << "a cgroup is watched once";

  auto opener = [](const char* tag) {
    return [tag] {
      for (int i = 0; i < 50; ++i) {
        std::string p = fmt::format("/tmp/mv-tracer-{}-{}-{}", tag, getpid(), i);
        int fd = open(p.c_str(), O_WRONLY | O_CREAT, 0644);
        if (fd >= 0) close(fd);
        unlink(p.c_str());
      }
      return 0;
    };
  };
  pid_t pa = fork();
  if (pa == 0) _exit(a.join() ? opener("aaa")() : 120);
  pid_t pb = fork();
  if (pb == 0) _exit(b.join() ? opener("bbb")() : 120);
  int st = 0;
  waitpid(pa, &st, 0);
  EXPECT_EQ(st, 0);
  waitpid(pb, &st, 0);
  EXPECT_EQ(st, 0);

  Events ea = tracer->finish(*sa), eb = tracer->finish(*sb);
  auto count = [](const Events& ev, const std::string& tag) {
    return std::count_if(ev.begin(), ev.end(), [&](const Event& e) {
      return e.kind == "open" && e.data.value("path", "").find(tag) != std::string::npos;
    });
  };
  EXPECT_EQ(count(ea, "aaa"), 50);
  EXPECT_EQ(count(ea, "bbb"), 0);
  EXPECT_EQ(count(eb, "bbb"), 50);
  EXPECT_EQ(count(eb, "aaa"), 0);
  for (const auto& e : ea) EXPECT_EQ(e.pid, pa);
  for (const auto& e : eb) EXPECT_EQ(e.pid, pb);
}

TEST(TracerFeatures, ProbesWhatThisKernelLoads) {
  Features f = probe_features();
  // What this project's machines allow (DESIGN.md); the backend depends on exactly these.
  EXPECT_TRUE(f.raw_tp);
  EXPECT_TRUE(f.tp_btf);
  EXPECT_TRUE(f.cgroup_sock_addr);
  EXPECT_TRUE(f.ringbuf);
  EXPECT_TRUE(f.btf);
  EXPECT_TRUE(f.ebpf_usable());
  auto j = f.to_json();
  for (const char* k : {"tracepoints", "raw_tp", "tp_btf", "fentry", "lsm", "kprobe", "cgroup_sock_addr", "ringbuf", "btf"})
    EXPECT_TRUE(j.contains(k)) << k;
  EXPECT_NE(f.summary().find("usable"), std::string::npos) << f.summary();
  Tracer* tracer = shared_tracer();
  ASSERT_NE(tracer, nullptr);
  auto hooks = tracer->active_hooks();
  EXPECT_NE(std::find(hooks.begin(), hooks.end(), "tp_btf/sys_exit"), hooks.end());
}

}  // namespace
}  // namespace modelvet::tracer::testing
