// A flood of cheap syscalls must not starve the high-value ring, and every lost record is
// counted: after 300,000 read-only opens the exec that follows is in the trace, and what
// arrived (events and the repeats folded into them) plus what was dropped accounts for every open.
#include "tests/test_tracer_support.h"

namespace modelvet::tracer::testing {
namespace {

constexpr int kFloodOpens = 300000;

TEST(TracerFlood, ExecAfterAFloodIsKeptAndDropsAreCounted) {
  Tracer* tracer = shared_tracer();
  ASSERT_NE(tracer, nullptr);
  TestCgroup cg("flood");
  std::string error;
  auto session = tracer->watch(cg.fd(), RedirectTarget{}, &error);
  ASSERT_NE(session, nullptr) << error;

  int status = run_child(&cg, [] {
    for (int i = 0; i < kFloodOpens; ++i) {
      int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (fd < 0) return 1;
      close(fd);
    }
    const char* argv[] = {"/bin/true", "after-the-flood", nullptr};
    return spawn_and_wait(argv);
  });
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;

  Events events = tracer->finish(*session);
  Stats st = tracer->stats(*session);
  SCOPED_TRACE(st.per_buffer.dump());

  bool exec_seen = false;
  uint64_t devnull_opens = 0;  // events, and the repeats folded into them
  for (const auto& e : events) {
    if (e.kind == "exec" && e.data["argv"] == nlohmann::json({"/bin/true", "after-the-flood"})) exec_seen = true;
    if (e.kind == "open" && e.data["path"] == "/dev/null") devnull_opens += 1 + e.data.value("repeats", uint64_t{0});
  }
  EXPECT_TRUE(exec_seen) << "the high-value ring was starved";
  EXPECT_EQ(st.per_buffer["high"]["dropped"], 0);

  const auto& bulk = st.per_buffer["bulk"];
  uint64_t emitted = bulk["emitted"], dropped = bulk["dropped"], capped = bulk["capped"], kept = bulk["kept"];
  uint64_t folded = bulk["folded"], unattached = bulk["folded_unattached"];
  // Everything the kernel emitted reached the session (kept or over the cap)...
  EXPECT_EQ(kept + capped, emitted);
  // ...and each open is in the trace (as an event or a repeat of one) or counted as lost.
  EXPECT_LE(devnull_opens, static_cast<uint64_t>(kFloodOpens));
  EXPECT_GE(devnull_opens + dropped + capped + unattached, static_cast<uint64_t>(kFloodOpens));
  EXPECT_GT(folded, 0u) << "identical read-only opens are folded";
  EXPECT_EQ(st.dropped, dropped + capped + unattached + st.per_buffer["high"]["dropped"].get<uint64_t>() +
                            st.per_buffer["high"]["capped"].get<uint64_t>());
  EXPECT_EQ(st.events, events.size());
  std::printf("flood: %llu /dev/null opens in the trace, bulk emitted %llu folded %llu dropped %llu capped %llu\n",
              static_cast<unsigned long long>(devnull_opens), static_cast<unsigned long long>(emitted),
              static_cast<unsigned long long>(folded), static_cast<unsigned long long>(dropped),
              static_cast<unsigned long long>(capped));
}

}  // namespace
}  // namespace modelvet::tracer::testing
