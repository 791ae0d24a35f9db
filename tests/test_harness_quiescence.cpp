// The grace period's early end (harness/quiescence.h): each thing that could still run code of
// the file's keeps it going, and a process with none of them left is quiescent. Every case runs
// as pid 1 of a fresh pid namespace with its own /proc, as a jail's processes see it: the host's
// /proc would show processes other jobs start meanwhile.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "harness/quiescence.h"

namespace {

using modelvet::harness::QuiescenceCheck;

// What left_to_run said inside `scenario` (run in a child that is pid 1 of a new pid namespace,
// after `before` and the baseline), "" for nothing left, or why the child could not run it.
std::string left_in(const std::function<void()>& scenario, const std::function<void()>& before = [] {}) {
  int pipefd[2];
  if (pipe(pipefd) != 0) return "pipe failed";
  pid_t outer = fork();
  if (outer == 0) {
    close(pipefd[0]);
    if (unshare(CLONE_NEWPID | CLONE_NEWNS) != 0) _exit(10);
    pid_t inner = fork();
    if (inner == 0) {
      if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
          mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0)
        _exit(11);
      before();
      const QuiescenceCheck check;
      scenario();
      const char* left = check.left_to_run();
      std::string answer = left ? left : "";
      (void)!write(pipefd[1], answer.data(), answer.size());
      _exit(0);  // pid 1's exit ends whatever the scenario left in the namespace
    }
    int status = 0;
    waitpid(inner, &status, 0);
    _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 12);
  }
  close(pipefd[1]);
  std::string answer;
  char buf[256];
  ssize_t n;
  while ((n = read(pipefd[0], buf, sizeof buf)) > 0) answer.append(buf, size_t(n));
  close(pipefd[0]);
  int status = 0;
  waitpid(outer, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return "child failed: " + std::to_string(status);
  return answer;
}

TEST(HarnessQuiescence, NothingLeftWhenOnlyTheHarnessRemains) {
  EXPECT_EQ(left_in([] {}), "");
}

// The decoy session's processes start right before the harness, often within its clock tick:
// alive before the load, they are not the load's.
TEST(HarnessQuiescence, ProcessesAliveBeforeTheLoadAreNotTheLoads) {
  EXPECT_EQ(left_in([] {},
                    [] {
                      for (int i = 0; i < 4; ++i)
                        if (fork() == 0) {
                          sleep(5);
                          _exit(0);
                        }
                    }),
            "");
}

bool hide_proc() {
  return mount("tmpfs", "/proc", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k") == 0 &&
         open("/proc/self/status", O_RDONLY | O_CLOEXEC) < 0;
}

// The check reads again what it opened before the load: with /proc hidden under an empty tmpfs
// (no path under it opens any more) it still answers, so the trace shows no read of the
// harness's own in the grace.
TEST(HarnessQuiescence, TheCheckOpensNothingAfterTheLoadBegins) {
  EXPECT_EQ(left_in([] {
              if (!hide_proc()) _exit(13);
            }),
            "");
  EXPECT_EQ(left_in([] {
              if (!hide_proc()) _exit(13);
              if (fork() == 0) {
                sleep(5);
                _exit(0);
              }
            }),
            "a process started by the load");
}

TEST(HarnessQuiescence, AnotherThreadKeepsTheGraceGoing) {
  EXPECT_EQ(left_in([] { std::thread([] { sleep(5); }).detach(); }), "another thread");
}

TEST(HarnessQuiescence, AnArmedRealTimerKeepsTheGraceGoing) {
  EXPECT_EQ(left_in([] {
              itimerval t{};
              t.it_value.tv_sec = 100;
              signal(SIGALRM, SIG_IGN);
              syscall(SYS_setitimer, ITIMER_REAL, &t, nullptr);
            }),
            "an armed timer");
}

TEST(HarnessQuiescence, APosixTimerKeepsTheGraceGoing) {
  EXPECT_EQ(left_in([] {
              sigevent ev{};
              ev.sigev_notify = SIGEV_SIGNAL;
              ev.sigev_signo = SIGUSR2;
              signal(SIGUSR2, SIG_IGN);
              timer_t id;
              if (timer_create(CLOCK_MONOTONIC, &ev, &id) != 0) _exit(13);
              itimerspec when{};
              when.it_value.tv_sec = 100;
              timer_settime(id, 0, &when, nullptr);
            }),
            "an armed timer");
}

TEST(HarnessQuiescence, APendingSignalKeepsTheGraceGoing) {
  EXPECT_EQ(left_in([] {
              signal(SIGUSR1, [](int) {});  // pid 1 would drop a signal left at its default action
              sigset_t usr1;
              sigemptyset(&usr1);
              sigaddset(&usr1, SIGUSR1);
              sigprocmask(SIG_BLOCK, &usr1, nullptr);
              raise(SIGUSR1);
            }),
            "a pending signal");
}

TEST(HarnessQuiescence, AProcessTheLoadStartedKeepsTheGraceGoingUntilItIsGone) {
  // A setsid daemon: forked, detached, alive.
  EXPECT_EQ(left_in([] {
              if (fork() == 0) {
                setsid();
                sleep(5);
                _exit(0);
              }
            }),
            "a process started by the load");
  // A child that already exited (a zombie not yet reaped) runs nothing.
  EXPECT_EQ(left_in([] {
              pid_t child = fork();
              if (child == 0) _exit(0);
              siginfo_t info{};
              waitid(P_PID, child, &info, WEXITED | WNOWAIT);  // exited, left unreaped
            }),
            "");
}

}  // namespace
