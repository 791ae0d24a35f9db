// Repeat folding through the real eBPF tracer: a read-only open already emitted is counted, not
// emitted again (its first event carries `repeats`); opens that can write are never folded; a
// folded open's fd keeps its path for executable mappings (after dup2, in a forked child), and
// its close is not needed.
#include <sys/mman.h>
#include <sys/syscall.h>

#include "tests/test_tracer_support.h"

namespace modelvet::tracer::testing {
namespace {

struct Recording {
  Events events;
  Stats stats;
  pid_t child = 0;
};

Recording record(const char* name, const std::function<int()>& body) {
  Recording r;
  Tracer* tracer = shared_tracer();
  if (!tracer) return r;
  TestCgroup cg(name);
  std::string error;
  auto session = tracer->watch(cg.fd(), RedirectTarget{}, &error);
  if (!session) {
    ADD_FAILURE() << error;
    return r;
  }
  int status = run_child(&cg, body, &r.child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
  r.events = tracer->finish(*session);
  r.stats = tracer->stats(*session);
  return r;
}

std::vector<const Event*> opens_of(const Events& events, const std::string& path) {
  std::vector<const Event*> out;
  for (const auto& e : events)
    if (e.kind == "open" && e.data.value("path", "") == path) out.push_back(&e);
  return out;
}

TEST(TracerFolding, RepeatedReadOnlyOpensAreFoldedWithTheirCount) {
  constexpr int kOpens = 5000, kMissing = 7;
  Recording r = record("fold", [] {
    for (int i = 0; i < kOpens; ++i) {
      int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (fd < 0) return 1;
      close(fd);
    }
    for (int i = 0; i < kMissing; ++i)
      if (open("/nonexistent/mv-fold", O_RDONLY) != -1) return 2;
    for (int i = 0; i < 3; ++i) {  // other flags: another key
      int fd = open("/dev/null", O_RDONLY);
      if (fd < 0) return 3;
      close(fd);
    }
    return 0;
  });
  SCOPED_TRACE(r.stats.per_buffer.dump());
  SCOPED_TRACE(dump(r.events));

  auto devnull = opens_of(r.events, "/dev/null");
  ASSERT_EQ(devnull.size(), 2u) << "one event per (flags, result) key";
  const Event* cloexec = devnull[0]->data["flags"] == (O_RDONLY | O_CLOEXEC) ? devnull[0] : devnull[1];
  const Event* plain = cloexec == devnull[0] ? devnull[1] : devnull[0];
  EXPECT_EQ(cloexec->pid, r.child);
  EXPECT_GE(cloexec->data["ret"].get<int>(), 3);
  EXPECT_EQ(cloexec->data["repeats"], kOpens - 1);
  EXPECT_EQ(plain->data["flags"], O_RDONLY);
  EXPECT_EQ(plain->data["repeats"], 2);

  auto missing = opens_of(r.events, "/nonexistent/mv-fold");
  ASSERT_EQ(missing.size(), 1u);
  EXPECT_EQ(missing[0]->data["ret"], -ENOENT);
  EXPECT_EQ(missing[0]->data["repeats"], kMissing - 1);

  // The counts are honest: every repeat is folded into an event of the trace, none is lost.
  const auto& bulk = r.stats.per_buffer["bulk"];
  EXPECT_EQ(bulk["folded"], (kOpens - 1) + (kMissing - 1) + 2);
  EXPECT_EQ(bulk["folded_unattached"], 0);
  EXPECT_EQ(r.stats.dropped, 0u);
  // Closes of folded fds were not emitted: the bulk ring carried a handful of records.
  EXPECT_LT(bulk["emitted"].get<uint64_t>(), 50u);
}

TEST(TracerFolding, OpensThatCanWriteAreNeverFolded) {
  std::string dir = fmt::format("/tmp/mv-fold-test-{}", getpid());
  mkdir(dir.c_str(), 0755);
  std::string file = dir + "/out.bin";
  constexpr int kWrites = 40;
  Recording r = record("nofold", [&] {
    for (int i = 0; i < kWrites; ++i) {
      int fd = open(file.c_str(), i % 2 ? O_RDWR : O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd < 0) return 1;
      close(fd);
    }
    return 0;
  });
  unlink(file.c_str());
  rmdir(dir.c_str());
  auto opens = opens_of(r.events, file);
  EXPECT_EQ(opens.size(), static_cast<size_t>(kWrites)) << dump(r.events);
  for (const Event* e : opens) EXPECT_FALSE(e->data.contains("repeats"));
  EXPECT_EQ(r.stats.per_buffer["bulk"]["folded"], 0);
}

TEST(TracerFolding, ExecMappingOfAFoldedOpensFdKeepsItsPath) {
  Recording r = record("foldmmap", [] {
    int first = open("/bin/true", O_RDONLY | O_CLOEXEC);   // emitted
    int folded = open("/bin/true", O_RDONLY | O_CLOEXEC);  // folded: user space never sees this fd
    if (first < 0 || folded < 0 || folded == first) return 1;
    void* m = mmap(nullptr, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, folded, 0);
    if (m == MAP_FAILED) return 2;
    munmap(m, 4096);
    if (dup2(folded, 100) != 100) return 3;  // a copy of a folded fd names the same file
    m = mmap(nullptr, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, 100, 0);
    if (m == MAP_FAILED) return 4;
    munmap(m, 4096);
    close(100);
    pid_t kid = fork();  // a child inherits the folded fd, and what it names
    if (kid == 0) _exit(mmap(nullptr, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, folded, 0) == MAP_FAILED);
    int kid_status = 0;
    if (waitpid(kid, &kid_status, 0) != kid || kid_status != 0) return 7;
    close(folded);
    // The folded fd's number, reused by a memfd: its mapping must not be called /bin/true.
    int mfd = static_cast<int>(syscall(SYS_memfd_create, "mv-fold-memfd", 0));
    if (mfd != folded || ftruncate(mfd, 4096) != 0) return 5;
    m = mmap(nullptr, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, mfd, 0);
    if (m == MAP_FAILED) return 6;
    munmap(m, 4096);
    close(mfd);
    close(first);
    return 0;
  });
  SCOPED_TRACE(dump(r.events));
  auto opens = opens_of(r.events, "/bin/true");
  ASSERT_EQ(opens.size(), 1u);
  int first_fd = opens[0]->data["ret"];
  EXPECT_EQ(opens[0]->data["repeats"], 1);

  auto maps = events_of_kind(r.events, "mmap_exec");
  ASSERT_EQ(maps.size(), 4u);
  EXPECT_EQ(maps[0]->data["fd"], first_fd + 1);
  EXPECT_EQ(maps[0]->data["path"], "/bin/true");
  EXPECT_EQ(maps[1]->data["fd"], 100);
  EXPECT_EQ(maps[1]->data["path"], "/bin/true");
  EXPECT_NE(maps[2]->pid, r.child);
  EXPECT_EQ(maps[2]->data["fd"], first_fd + 1);
  EXPECT_EQ(maps[2]->data["path"], "/bin/true");
  EXPECT_EQ(maps[3]->pid, r.child);
  EXPECT_EQ(maps[3]->data["fd"], first_fd + 1);
  EXPECT_EQ(maps[3]->data["path"], "memfd:mv-fold-memfd");
}

TEST(TracerFolding, AFoldedFdsNumberReusedByAWriteOpenGetsTheNewPath) {
  std::string file = fmt::format("/tmp/mv-fold-reuse-{}", getpid());
  Recording r = record("foldreuse", [&] {
    int fd = open("/dev/null", O_RDONLY);
    close(fd);
    int folded = open("/dev/null", O_RDONLY);  // folded, same number
    close(folded);                             // not emitted: nothing to forget
    int w = open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (w != folded) return 1;
    if (write(w, "abc", 3) != 3) return 2;
    close(w);
    return 0;
  });
  unlink(file.c_str());
  SCOPED_TRACE(dump(r.events));
  const Event* wr = find_event(r.events, "write", [](auto& d) { return d["bytes"] == 3; });
  ASSERT_NE(wr, nullptr);
  EXPECT_EQ(wr->data.value("path", ""), file);
}

}  // namespace
}  // namespace modelvet::tracer::testing
