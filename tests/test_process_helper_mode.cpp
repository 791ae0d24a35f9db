// process/helper_mode.h: this test binary spawned again as a helper of its own (test_main.cpp
// dispatches the mode registered below) reports what it was started with.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "process/helper_mode.h"

namespace {

using modelvet::process::HelperSpawn;
using modelvet::process::run_helper_mode;
using modelvet::process::spawn_helper;

// Writes, on descriptor 3: its arguments, its open descriptors, its blocked signals, whether
// SIGCHLD is at its default and what its stdout is; then "two" on descriptor 4 when it is open.
int report_main(int argc, char** argv) {
  std::string out = "args";
  for (int i = 2; i < argc; ++i) out += std::string(" ") + argv[i];
  out += "\nfds";
  DIR* dir = opendir("/proc/self/fd");
  for (dirent* e; dir && (e = readdir(dir));)
    if (e->d_name[0] != '.' && std::atoi(e->d_name) != dirfd(dir)) out += std::string(" ") + e->d_name;
  if (dir) closedir(dir);
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("SigBlk:", 0) == 0) out += "\n" + line;
  struct sigaction chld{};
  sigaction(SIGCHLD, nullptr, &chld);
  out += chld.sa_handler == SIG_DFL ? "\nsigchld default\n" : "\nsigchld not default\n";
  char target[256] = {};
  if (readlink("/proc/self/fd/1", target, sizeof target - 1) > 0) out += std::string("stdout ") + target + "\n";
  if (write(3, out.data(), out.size()) != ssize_t(out.size())) return 1;
  if (fcntl(4, F_GETFD) >= 0 && write(4, "two", 3) != 3) return 1;
  return 0;
}

const modelvet::process::HelperMode kReport{"__test-report", report_main};

std::string read_all(int fd) {
  std::string s;
  char buf[4096];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) s.append(buf, size_t(n));
  return s;
}

struct Report {
  std::string first, second;
  int exit_code = -1;
};

Report spawn_and_read(const HelperSpawn& spawn_base, bool two_pipes) {
  int a[2], b[2];
  EXPECT_EQ(pipe2(a, O_CLOEXEC), 0);
  EXPECT_EQ(pipe2(b, O_CLOEXEC), 0);
  HelperSpawn spawn = spawn_base;
  spawn.fds = two_pipes ? std::vector<int>{a[1], b[1]} : std::vector<int>{a[1]};
  std::string error;
  pid_t pid = spawn_helper(spawn, &error);
  EXPECT_GT(pid, 0) << error;
  close(a[1]), close(b[1]);
  Report r{read_all(a[0]), read_all(b[0])};
  close(a[0]), close(b[0]);
  int status = 0;
  if (pid > 0) waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

TEST(HelperMode, TheHelperGetsItsArgumentsAndDescriptorsAtThreeOnwardAndNothingElse) {
  int stray = open("/dev/null", O_RDONLY);  // inheritable: must still not reach the helper
  ASSERT_GE(stray, 0);
  Report r = spawn_and_read({"modelvet", "__test-report", {"x", "y z"}, {}}, /*two_pipes=*/true);
  close(stray);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.first.find("args x y z\n"), std::string::npos) << r.first;
  EXPECT_NE(r.first.find("\nfds 0 1 2 3 4\n"), std::string::npos) << r.first;
  EXPECT_EQ(r.second, "two");
}

TEST(HelperMode, WithOneDescriptorTheHelperHasNoFourth) {
  Report r = spawn_and_read({"modelvet", "__test-report", {}, {}}, /*two_pipes=*/false);
  EXPECT_NE(r.first.find("\nfds 0 1 2 3\n"), std::string::npos) << r.first;
  EXPECT_EQ(r.second, "");
}

TEST(HelperMode, NullStdioPutsDevNullOnZeroToTwo) {
  int a[2];
  ASSERT_EQ(pipe2(a, O_CLOEXEC), 0);
  std::string error;
  // The helper's stdout would be this pipe's write end if it were inherited.
  int saved = dup(1);
  dup2(a[1], 1);
  pid_t pid = spawn_helper({"modelvet", "__test-report", {}, {a[1]}, /*null_stdio=*/true}, &error);
  dup2(saved, 1), close(saved), close(a[1]);
  ASSERT_GT(pid, 0) << error;
  std::string out = read_all(a[0]);  // EOF only once no process holds the write end
  close(a[0]);
  waitpid(pid, nullptr, 0);
  EXPECT_NE(out.find("\nfds 0 1 2 3\n"), std::string::npos) << out;
  EXPECT_NE(out.find("stdout /dev/null\n"), std::string::npos) << out;
}

TEST(HelperMode, TheSpawnersSignalMaskAndIgnoredSigchldAreNotTheHelpers) {
  Report r;
  // A worker thread's state, as batch's workers and the zygote launcher have it.
  std::thread worker([&] {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
    r = spawn_and_read({"modelvet", "__test-report", {}, {}}, /*two_pipes=*/false);
  });
  struct sigaction ignore{}, old{};
  ignore.sa_handler = SIG_IGN;
  sigaction(SIGCHLD, &ignore, &old);
  worker.join();
  sigaction(SIGCHLD, &old, nullptr);
  EXPECT_NE(r.first.find("SigBlk:\t0000000000000000"), std::string::npos) << r.first;
  EXPECT_NE(r.first.find("sigchld default"), std::string::npos) << r.first;
}

TEST(HelperMode, OnlyARegisteredModeIsRun) {
  char name[] = "modelvet", unknown[] = "__no-such-mode", scan[] = "scan";
  char* none[] = {name, nullptr};
  char* other[] = {name, unknown, nullptr};
  char* command[] = {name, scan, nullptr};
  EXPECT_FALSE(run_helper_mode(1, none));
  EXPECT_FALSE(run_helper_mode(2, other));
  EXPECT_FALSE(run_helper_mode(2, command));
}

}  // namespace
