// The event pipe writer, without Python: whole lines, and no writes once the descriptor it was
// given no longer names the same pipe (a payload closed it and something else took the number).
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "harness/event_sink.h"

namespace {

std::string read_all(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, size_t(n));
  return out;
}

bool same_file(int a, int b) {
  struct stat sa, sb;
  return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

TEST(HarnessEventSink, StopsWritingWhenItsDescriptorIsReplaced) {
  int events[2], intruder[2];
  ASSERT_EQ(pipe(events), 0);
  ASSERT_EQ(pipe(intruder), 0);
  pid_t pid = fork();
  if (pid == 0) {
    close(events[0]);
    close(intruder[0]);
    int keep = dup(events[1]);  // to find the sink's copy after it moved
    modelvet::harness::sink_open(events[1]);
    modelvet::harness::emit("phase", {{"name", "setup"}});
    // The "payload" swaps every descriptor of the event pipe for another pipe.
    for (int fd = 0; fd < 2048; ++fd)
      if (fd != keep && same_file(fd, keep)) dup2(intruder[1], fd);
    close(keep);
    modelvet::harness::emit("phase", {{"name", "load"}});
    _exit(0);
  }
  close(events[1]);
  close(intruder[1]);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  std::string lines = read_all(events[0]);
  EXPECT_EQ(read_all(intruder[0]), "");
  ASSERT_FALSE(lines.empty());
  ASSERT_EQ(lines.back(), '\n');
  auto event = nlohmann::json::parse(lines.substr(0, lines.size() - 1));  // exactly one line
  EXPECT_EQ(event["kind"], "phase");
  EXPECT_EQ(event["name"], "setup");
  EXPECT_EQ(event["source"], "python");
  EXPECT_EQ(event["pid"], pid);
}

TEST(HarnessEventSink, LongFieldsAreCutToOnePipeBufLine) {
  int events[2];
  ASSERT_EQ(pipe(events), 0);
  pid_t pid = fork();
  if (pid == 0) {
    close(events[0]);
    modelvet::harness::sink_open(events[1]);
    modelvet::harness::emit("audit", {{"event", "compile"}, {"args", std::string(20000, 'x')}});
    _exit(0);
  }
  close(events[1]);
  waitpid(pid, nullptr, 0);
  std::string lines = read_all(events[0]);
  EXPECT_LE(lines.size(), size_t(PIPE_BUF));
  auto event = nlohmann::json::parse(lines);
  EXPECT_EQ(event["event"], "compile");
  EXPECT_GT(event["args"].get<std::string>().size(), 100u);
}

}  // namespace
