// The pure parts of the user side: record decoding helpers and the fd -> path linking.
#include <fcntl.h>

#include <gtest/gtest.h>

#include "tracer/event_linker.h"
#include "tracer/record_decoder.h"

namespace modelvet::tracer {
namespace {

TEST(TracerDecoder, OpenFlagsReadLikeTheHeaders) {
  EXPECT_EQ(open_flags_string(O_RDONLY), "O_RDONLY");
  EXPECT_EQ(open_flags_string(O_WRONLY | O_CREAT | O_TRUNC), "O_WRONLY|O_CREAT|O_TRUNC");
  EXPECT_EQ(open_flags_string(O_RDWR | O_APPEND | O_CLOEXEC), "O_RDWR|O_APPEND|O_CLOEXEC");
  EXPECT_EQ(open_flags_string(O_TMPFILE | O_WRONLY), "O_WRONLY|O_DIRECTORY|O_TMPFILE");
}

TEST(TracerDecoder, SyscallNamesComeFromLibseccomp) {
  EXPECT_EQ(syscall_name(272), "unshare");
  EXPECT_EQ(syscall_name(165), "mount");
  EXPECT_EQ(syscall_name(452), "fchmodat2");
  EXPECT_EQ(syscall_name(100000), "syscall_100000");
}

TEST(TracerDecoder, ShortRecordsAreRejected) {
  char tiny[4] = {};
  EXPECT_FALSE(decode_record(tiny, sizeof(tiny)).has_value());
}

Event ev(uint64_t t, int pid, const char* kind, nlohmann::json data) {
  Event e;
  e.t_ns = t;
  e.source = "kernel";
  e.kind = kind;
  e.pid = pid;
  e.data = std::move(data);
  return e;
}

TEST(TracerLinker, WritesGetThePathOfTheirFdAndReusedFdsAreNotMisattributed) {
  Events raw = {
      ev(50, 7, "write", {{"fd", 3}, {"bytes", 2}}),  // out of order on purpose: sorted first
      ev(10, 7, "open", {{"path", "/tmp/a"}, {"ret", 3}}),
      ev(60, 7, "_close", {{"fd", 3}}),
      ev(70, 7, "socket", {{"ret", 3}}),
      ev(80, 7, "write", {{"fd", 3}, {"bytes", 9}}),
      ev(90, 7, "fork", {{"child_pid", 8}}),
      ev(20, 7, "memfd_create", {{"name", "x"}, {"ret", 4}}),
      ev(95, 8, "mmap_exec", {{"fd", 4}, {"prot", 5}}),
      ev(96, 8, "_dup", {{"fd", 4}, {"new_fd", 9}}),
      ev(97, 8, "write", {{"fd", 9}, {"bytes", 1}}),
  };
  Events out = link_events(raw);
  ASSERT_EQ(out.size(), 8u);  // the two internal records are consumed
  for (size_t i = 1; i < out.size(); ++i) EXPECT_LE(out[i - 1].t_ns, out[i].t_ns);
  EXPECT_EQ(out[2].kind, "write");
  EXPECT_EQ(out[2].data["path"], "/tmp/a");
  EXPECT_EQ(out[4].kind, "write");
  EXPECT_FALSE(out[4].data.contains("path")) << "fd 3 was closed and reused by a socket";
  EXPECT_EQ(out[6].kind, "mmap_exec");
  EXPECT_EQ(out[6].data["path"], "memfd:x") << "the child inherited the parent's fd table";
  EXPECT_EQ(out[7].data["path"], "memfd:x");
}

}  // namespace
}  // namespace modelvet::tracer
