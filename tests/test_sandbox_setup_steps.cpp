// Fail closed, step by step: a jail whose setup fails at a named step reports that step, runs
// nothing, and leaves no process, cgroup or staging dir behind. Runs as root and (via
// tests/as_nobody.sh) rootless, like the rest of the sandbox suite.
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "sandbox/jail.h"

namespace fs = std::filesystem;
using modelvet::sandbox::JailConfig;
using modelvet::sandbox::JailHandle;
using modelvet::sandbox::JailOutcome;

namespace {

std::string write_model() {
  const std::string model = "/tmp/modelvet-steps-model-" + std::to_string(geteuid()) + ".pkl";
  std::ofstream(model, std::ios::binary) << std::string("\x80\x04}\x94.", 5);
  return model;
}

bool pid_namespace_has_processes(uint64_t inode) {
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    struct stat st{};
    if (stat((entry.path() / "ns/pid").c_str(), &st) == 0 && st.st_ino == inode) return true;
  }
  return false;
}

// After a failure past the fork: the jail existed, and nothing of it may be left.
void expect_nothing_left(const JailOutcome& out) {
  EXPECT_FALSE(out.ran);
  ASSERT_NE(out.handle.init_pid, 0);
  EXPECT_NE(kill(out.handle.init_pid, 0), 0) << "the jail's init survived";
  ASSERT_NE(out.handle.pidns_inode, 0u);
  EXPECT_FALSE(pid_namespace_has_processes(out.handle.pidns_inode)) << "a process is left in the jail's pid namespace";
  ASSERT_FALSE(out.handle.staging_dir.empty());
  EXPECT_FALSE(fs::exists(out.handle.staging_dir)) << "leftover staging dir";
  if (!out.handle.user_namespace) EXPECT_FALSE(fs::exists(out.handle.cgroup_path)) << "leftover cgroup";
}

}  // namespace

TEST(SetupSteps, MissingModelFailsAtStaging) {
  JailConfig cfg;
  cfg.model_path = "/nonexistent/modelvet-steps-model.pkl";
  cfg.exe_path = "/bin/true";
  bool attached = false;
  JailOutcome out = modelvet::sandbox::run_jail(cfg, [&](const JailHandle&, std::string*) { return attached = true; });
  EXPECT_FALSE(out.ran);
  EXPECT_FALSE(attached) << "observers attached to a jail that failed before its fork";
  EXPECT_EQ(out.error.rfind("staging: ", 0), 0u) << out.error;
  EXPECT_EQ(out.handle.init_pid, 0);
}

TEST(SetupSteps, MissingHarnessFailsBeforeTheFork) {
  JailConfig cfg;
  cfg.model_path = write_model();
  cfg.exe_path = "/nonexistent/modelvet-harness";
  JailOutcome out = modelvet::sandbox::run_jail(cfg, nullptr);
  EXPECT_FALSE(out.ran);
  EXPECT_EQ(out.error, "open /nonexistent/modelvet-harness: No such file or directory");
  EXPECT_EQ(out.handle.init_pid, 0);
}

TEST(SetupSteps, RefusingObserverKillsTheJailUnrun) {
  JailConfig cfg;
  cfg.model_path = write_model();
  cfg.exe_path = "/bin/true";
  JailOutcome out = modelvet::sandbox::run_jail(cfg, [](const JailHandle& h, std::string* error) {
    EXPECT_TRUE(h.netns.isolated());
    *error = "refused by the test";
    return false;
  });
  EXPECT_EQ(out.error, "observer: refused by the test");
  expect_nothing_left(out);
}

TEST(SetupSteps, FailedExecIsReportedAsJailStart) {
  // Present and openable (O_PATH), but not executable: the exec inside the jail fails.
  const std::string not_exe = "/tmp/modelvet-steps-not-exe-" + std::to_string(geteuid());
  std::ofstream(not_exe) << "not a program\n";
  fs::permissions(not_exe, fs::perms(0644));
  JailConfig cfg;
  cfg.model_path = write_model();
  cfg.exe_path = not_exe;
  JailOutcome out = modelvet::sandbox::run_jail(cfg, [](const JailHandle&, std::string*) { return true; });
  EXPECT_EQ(out.error, "jail start: error exec harness: Permission denied");
  expect_nothing_left(out);
  fs::remove(not_exe);
}
