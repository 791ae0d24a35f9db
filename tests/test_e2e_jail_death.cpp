// The jail dies with its supervisor: SIGKILL of `modelvet scan` mid-detonation, or of `modelvet
// batch` with several jails running, leaves nothing on the host within a second (no process, pid
// or network namespace, cgroup, mount or staging dir); the killed batch's output then has no torn
// line and `--resume` completes it with nothing lost and nothing twice. SIGINT of `scan` tears
// the jails down and keeps the results that finished.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include <gtest/gtest.h>

#include "sandbox/cgroup.h"
#include "tests/detonation_support.h"
#include "tests/jail_host_state.h"

namespace {
namespace fs = std::filesystem;
using namespace modelvet::testing;
using Clock = std::chrono::steady_clock;

// A pickle whose payload blocks until a signal: signal.pause(). Not a timed wait, so the harness's
// time acceleration (which shortens sleep, select, poll and every timed wait) cannot end it;
// only the jail's death or its --timeout does.
std::string sleeper(int variant) { return fmt::format("I{}\n0csignal\npause\n(tR.", variant); }  // INT n, POP: distinct content
const std::string kSleeper = sleeper(0);
// An empty dict, protocol 2: loads at once, nothing runs.
const std::string kQuiet = std::string("\x80\x02}q\x00.", 6);

std::string make_dir(const std::string& name) {
  std::string dir = fs::temp_directory_path() / fmt::format("mv-{}-{}", name, getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void write(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

// Starts `modelvet COMMAND ARGS...` with stdout to `out_fd` (or /dev/null), stderr to /dev/null.
pid_t start_modelvet(const char* command, const std::vector<std::string>& args, int out_fd = -1) {
  pid_t pid = fork();
  if (pid == 0) {
    int devnull = open("/dev/null", O_RDWR);
    dup2(out_fd >= 0 ? out_fd : devnull, 1);
    dup2(devnull, 2);
    std::vector<char*> argv = {const_cast<char*>("modelvet"), const_cast<char*>(command)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(kBinary.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

pid_t start_scan(const std::vector<std::string>& args, int out_fd = -1) { return start_modelvet("scan", args, out_fd); }

// Waits until the supervisor runs a jail whose staging holds `model_name` and its harness has
// started (two processes in the jail's pid namespace); then a moment for Python to reach the payload.
JailFootprint wait_for_running_jail(pid_t supervisor, const std::string& model_name) {
  auto deadline = Clock::now() + std::chrono::seconds(60);
  while (Clock::now() < deadline) {
    JailFootprint f = footprint_of(supervisor);
    bool staged = false;
    std::error_code ec;
    for (const auto& d : f.staging) staged |= fs::exists(fs::path(d) / "model" / model_name, ec);
    size_t in_jail = 0;
    for (const auto& [pid, p] : read_processes()) in_jail += f.pidns.count(p.pidns);
    if (staged && in_jail >= 2) {
      std::this_thread::sleep_for(std::chrono::seconds(2));
      f = footprint_of(supervisor);
      for (const auto& d : f.staging)
        for (const auto& cg : modelvet::sandbox::jail_cgroup_dirs(fs::path(d).filename().string()))
          if (fs::exists(cg, ec)) f.cgroups.push_back(cg);
      return f;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return {};
}

// Polls until nothing of `f` is left (or 10 s); the time it took, and what was left if it was not.
std::pair<double, std::vector<std::string>> time_until_gone(const JailFootprint& f, const std::set<std::string>& mounts) {
  auto t0 = Clock::now();
  std::vector<std::string> left;
  while (Clock::now() - t0 < std::chrono::seconds(10)) {
    left = leftovers(f, mounts);
    if (left.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return {std::chrono::duration<double, std::milli>(Clock::now() - t0).count(), left};
}

TEST(E2eJailDeath, SigkillOfTheSupervisorEndsItsJailWithinASecond) {
  assert_jail_is_isolated();
  std::string dir = make_dir("sigkill");
  write(dir + "/sleeper.pkl", kSleeper);
  const auto mounts_before = mount_lines();

  pid_t supervisor = start_scan({"--format", "json", "--timeout", "60", "--grace-ms", "0", dir + "/sleeper.pkl"});
  ASSERT_GT(supervisor, 0);
  JailFootprint f = wait_for_running_jail(supervisor, "sleeper.pkl");
  ASSERT_FALSE(f.pidns.empty()) << "the jail never came up";
  ASSERT_FALSE(f.netns.empty());
  ASSERT_FALSE(f.staging.empty());
  if (geteuid() == 0) ASSERT_FALSE(f.cgroups.empty());
  EXPECT_TRUE(leftovers(f, mounts_before).size() > 0);  // the jail is there before the kill

  auto t_kill = Clock::now();
  ASSERT_EQ(kill(supervisor, SIGKILL), 0);
  waitpid(supervisor, nullptr, 0);
  auto [ms, left] = time_until_gone(f, mounts_before);
  double since_kill = std::chrono::duration<double, std::milli>(Clock::now() - t_kill).count();
  for (const auto& l : left) ADD_FAILURE() << "left behind: " << l;
  EXPECT_LT(since_kill, 1000.0) << "the jail outlived its supervisor by " << since_kill << " ms";
  std::printf("[ measured ] jail gone %.1f ms after SIGKILL of the supervisor (%zu processes, %zu cgroups, %zu staging dirs)\n",
              since_kill, f.processes.size(), f.cgroups.size(), f.staging.size());
  RecordProperty("jail_gone_ms", std::to_string(static_cast<int>(ms)));
  fs::remove_all(dir);
}

TEST(E2eJailDeath, SigintOfScanTearsTheJailDownAndKeepsFinishedResults) {
  assert_jail_is_isolated();
  std::string dir = make_dir("sigint");
  write(dir + "/a_quiet.pkl", kQuiet);
  write(dir + "/b_sleeper.pkl", kSleeper);
  const auto mounts_before = mount_lines();
  std::string out_path = dir + "/report.json";
  int out_fd = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(out_fd, 0);

  pid_t supervisor = start_scan({"--format", "json", "--jobs", "1", "--timeout", "60", "--grace-ms", "0",
                                 dir + "/a_quiet.pkl", dir + "/b_sleeper.pkl"}, out_fd);
  close(out_fd);
  JailFootprint f = wait_for_running_jail(supervisor, "b_sleeper.pkl");
  ASSERT_FALSE(f.pidns.empty()) << "the sleeper's jail never came up";

  ASSERT_EQ(kill(supervisor, SIGINT), 0);
  int status = 0;
  auto t0 = Clock::now();
  while (waitpid(supervisor, &status, WNOHANG) == 0 && Clock::now() - t0 < std::chrono::seconds(30))
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(WIFEXITED(status)) << "scan did not stop on SIGINT";
  EXPECT_EQ(WEXITSTATUS(status), 128 + SIGINT);
  std::printf("[ measured ] scan exited %.0f ms after SIGINT\n",
              std::chrono::duration<double, std::milli>(Clock::now() - t0).count());

  // The supervisor is gone; what the jail had must be too (its own teardown removed it).
  auto [ms, left] = time_until_gone(f, mounts_before);
  for (const auto& l : left) ADD_FAILURE() << "left behind: " << l;

  std::ifstream in(out_path);
  auto doc = nlohmann::json::parse(in, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << "no JSON report after SIGINT";
  ASSERT_EQ(doc["results"].size(), 2u);
  EXPECT_EQ(doc["results"][0]["verdict"], "benign") << doc["results"][0].dump(2);
  EXPECT_EQ(doc["results"][1]["verdict"], "error");
  EXPECT_NE(doc["results"][1].value("error", "").find("interrupted by SIGINT"), std::string::npos) << doc["results"][1].dump(2);
  fs::remove_all(dir);
}

std::vector<std::string> lines_in(const std::string& path) {
  std::vector<std::string> lines;
  std::ifstream in(path);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

TEST(E2eJailDeath, SigkillOfBatchEndsEveryJailAndResumeCompletesTheBatch) {
  assert_jail_is_isolated();
  std::string dir = make_dir("batch-sigkill");
  write(dir + "/a_quiet0.pkl", kQuiet);
  write(dir + "/a_quiet1.pkl", std::string("\x80\x02}q\x01.", 6));
  for (int i = 0; i < 3; ++i) write(dir + fmt::format("/b_sleeper{}.pkl", i), sleeper(i + 1));
  const std::string out = fs::temp_directory_path() / fmt::format("mv-batch-sigkill-{}.jsonl", getpid());
  fs::remove(out);
  const auto mounts_before = mount_lines();

  // Two jobs: the quiet files finish and are written, then two sleepers block both slots.
  pid_t supervisor = start_modelvet("batch", {"--quiet", "--jobs", "2", "--timeout", "60", "--grace-ms", "0", "--output", out, dir});
  ASSERT_GT(supervisor, 0);
  auto deadline = Clock::now() + std::chrono::seconds(120);
  while (lines_in(out).size() < 2 && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_EQ(lines_in(out).size(), 2u) << "the quiet files were not written first";
  JailFootprint f = wait_for_running_jail(supervisor, "b_sleeper1.pkl");
  ASSERT_GE(f.pidns.size(), 2u) << "two sleepers' jails should be running";
  ASSERT_GE(f.netns.size(), 2u);
  ASSERT_GE(f.staging.size(), 2u);
  if (geteuid() == 0) ASSERT_GE(f.cgroups.size(), 2u);

  auto t_kill = Clock::now();
  ASSERT_EQ(kill(supervisor, SIGKILL), 0);
  waitpid(supervisor, nullptr, 0);
  auto [ms, left] = time_until_gone(f, mounts_before);
  double since_kill = std::chrono::duration<double, std::milli>(Clock::now() - t_kill).count();
  for (const auto& l : left) ADD_FAILURE() << "left behind: " << l;
  EXPECT_LT(since_kill, 1000.0) << "the batch's jails outlived it by " << since_kill << " ms";
  std::printf("[ measured ] batch: %zu jails gone %.1f ms after SIGKILL (%zu processes, %zu cgroups, %zu staging dirs)\n",
              f.pidns.size(), since_kill, f.processes.size(), f.cgroups.size(), f.staging.size());

  // What the kill left: whole lines only (each group's lines are one write), none of a sleeper.
  std::ifstream raw(out, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(raw)), {});
  ASSERT_FALSE(bytes.empty());
  EXPECT_EQ(bytes.back(), '\n') << "torn last line";
  for (const auto& l : lines_in(out)) EXPECT_FALSE(nlohmann::json::parse(l, nullptr, false).is_discarded()) << l;

  // The sleepers block until their --timeout: a timed-out detonation is a verdict, not an error.
  auto resumed = run_modelvet("batch --quiet --jobs 2 --timeout 4 --grace-ms 0 --resume --output " + out + " " + dir);
  EXPECT_NE(resumed.exit_code, 2) << "the resumed batch failed";
  std::map<std::string, int> seen;
  for (const auto& l : lines_in(out)) {
    auto j = nlohmann::json::parse(l, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << "not a whole line: " << l;
    seen[j.value("path", "")]++;
    EXPECT_NE(j.value("verdict", "error"), "error") << l;
  }
  EXPECT_EQ(seen.size(), 5u);
  for (const auto& [path, n] : seen) EXPECT_EQ(n, 1) << path << " reported " << n << " times";
  fs::remove(out);
  fs::remove_all(dir);
}

}  // namespace
