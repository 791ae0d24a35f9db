// The jail dies with its supervisor: SIGKILL of `modelvet scan` mid-detonation leaves nothing on
// the host within a second (no process, pid or network namespace, cgroup, mount or staging dir),
// and SIGINT of `scan` tears the jails down and keeps the results that finished.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "sandbox/cgroup.h"
#include "tests/detonation_support.h"
#include "tests/jail_host_state.h"

namespace {
namespace fs = std::filesystem;
using namespace modelvet::testing;
using Clock = std::chrono::steady_clock;

// A benign pickle whose payload waits for real (select is not time-warped): select.select([], [], [], 30).
const std::string kSleeper = "cselect\nselect\n((l(l(lF30.0\ntR.";
// An empty dict, protocol 2: loads at once, nothing runs.
const std::string kQuiet = std::string("\x80\x02}q\x00.", 6);

std::string make_dir(const std::string& name) {
  std::string dir = fs::temp_directory_path() / fmt::format("mv-{}-{}", name, getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void write(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

// Starts `modelvet scan ARGS...` with stdout to `out_fd` (or /dev/null), stderr to /dev/null.
pid_t start_scan(const std::vector<std::string>& args, int out_fd = -1) {
  pid_t pid = fork();
  if (pid == 0) {
    int devnull = open("/dev/null", O_RDWR);
    dup2(out_fd >= 0 ? out_fd : devnull, 1);
    dup2(devnull, 2);
    std::vector<char*> argv = {const_cast<char*>("modelvet"), const_cast<char*>("scan")};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(kBinary.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

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

}  // namespace
