// Which isolation a jail gets, checked from inside it. This binary runs twice (tests/
// CMakeLists.txt): as root, and as an unprivileged user with MODELVET_EXPECT_ROOTLESS=1, where
// every jail must be rootless: a user namespace of its own that maps the jail user to the
// caller, no cgroup, and the fake network still answering inside the jail's netns.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "sandbox/jail.h"

namespace fs = std::filesystem;
using modelvet::sandbox::JailConfig;
using modelvet::sandbox::JailHandle;
using modelvet::sandbox::JailOutcome;

namespace {

bool expect_rootless() { return std::getenv("MODELVET_EXPECT_ROOTLESS") != nullptr; }

uint64_t inode_of(const std::string& path) {
  struct stat st{};
  return stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

// Runs Python code in a jail (after checking its netns has no route out); the last JSON line it
// printed comes back.
nlohmann::json run_in_jail(const std::string& code, JailOutcome* out) {
  const std::string model = "/tmp/modelvet-isolation-model-" + std::to_string(geteuid()) + ".pkl";
  std::ofstream(model, std::ios::binary) << std::string("\x80\x04}\x94.", 5);
  JailConfig cfg;
  cfg.model_path = model;
  cfg.exe_path = "/usr/bin/python3.11";
  cfg.harness_args = {"-I", "-c", code};
  bool isolated = false;
  *out = modelvet::sandbox::run_jail(cfg, [&](const JailHandle& h, std::string*) {
    isolated = h.netns.isolated() && h.netns.inode != inode_of("/proc/self/ns/net");
    return isolated;
  });
  EXPECT_TRUE(isolated) << "jail netns not isolated";
  EXPECT_TRUE(out->ran) << out->error;
  EXPECT_TRUE(out->clean_teardown);
  nlohmann::json last;
  std::istringstream lines(out->output);
  for (std::string line; std::getline(lines, line);)
    if (!line.empty() && line[0] == '{') last = nlohmann::json::parse(line, nullptr, false);
  return last;
}

}  // namespace

TEST(Isolation, RunAsTheUserThisRunExpects) {
  // A rootless run that was started as root would pass every probe without testing rootless jails.
  EXPECT_EQ(geteuid() != 0, expect_rootless());
  EXPECT_EQ(modelvet::sandbox::rootless_jails(), expect_rootless());
  EXPECT_EQ(modelvet::sandbox::isolation_label(),
            expect_rootless() ? "userns+namespaces+seccomp" : "namespaces+seccomp");
}

TEST(Isolation, UserNamespaceMapsTheJailUserToTheCaller) {
  JailOutcome out;
  auto seen = run_in_jail(
      "import os, json\n"
      "print(json.dumps({'uid_map': open('/proc/self/uid_map').read().split(), 'uid': os.getuid(),"
      " 'userns': os.stat('/proc/self/ns/user').st_ino}))",
      &out);
  ASSERT_TRUE(seen.is_object()) << out.output;
  const int jail_uid = modelvet::sandbox::kJailUidBase;  // slot 0
  EXPECT_EQ(seen["uid"], jail_uid);
  EXPECT_EQ(out.handle.user_namespace, expect_rootless());
  if (expect_rootless()) {
    // One uid, the jail user's, and it is the caller on the host: nothing else is mapped.
    EXPECT_EQ(seen["uid_map"], nlohmann::json({std::to_string(jail_uid), std::to_string(geteuid()), "1"}));
    EXPECT_NE(seen["userns"].get<uint64_t>(), inode_of("/proc/self/ns/user"));
    EXPECT_TRUE(out.handle.cgroup_path.empty());
  } else {
    EXPECT_EQ(seen["uid_map"], nlohmann::json({"0", "0", "4294967295"}));
    EXPECT_EQ(seen["userns"].get<uint64_t>(), inode_of("/proc/self/ns/user"));
    EXPECT_FALSE(out.handle.cgroup_path.empty());
  }
}

TEST(Isolation, FakeNetworkAnswersInsideTheJail) {
  // DNS goes to 127.0.0.1:53 by resolv.conf (no steering needed), and the fake TCP service
  // listens on the jail's loopback: both were bound inside the jail and handed out.
  JailOutcome out;
  auto seen = run_in_jail(
      "import socket, json\n"
      "addr = socket.gethostbyname('c2.modelvet-test.invalid')\n"
      "print(json.dumps({'addr': addr}))",
      &out);
  ASSERT_TRUE(seen.is_object()) << out.output;
  EXPECT_EQ(seen["addr"], "198.51.100.7");
  bool logged = false;
  for (const auto& e : out.net_events)
    logged |= e.kind == "dns" && e.data.value("name", "") == "c2.modelvet-test.invalid";
  EXPECT_TRUE(logged) << "the fake DNS did not log the query";
  EXPECT_NE(out.handle.netns.inode, 0u);
}

TEST(Isolation, TeardownLeavesNoProcessInThePidNamespace) {
  JailOutcome out;
  run_in_jail("import os\nif os.fork() == 0:\n    os.setsid()\n    os.execv('/bin/sleep', ['/bin/sleep', '30'])\n"
              "print('{\"ok\": true}')",
              &out);
  ASSERT_NE(out.handle.pidns_inode, 0u);
  EXPECT_NE(out.handle.pidns_inode, inode_of("/proc/self/ns/pid"));
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || !isdigit(static_cast<unsigned char>(name[0]))) continue;
    EXPECT_NE(inode_of(entry.path().string() + "/ns/pid"), out.handle.pidns_inode) << "left behind: pid " << name;
  }
  EXPECT_FALSE(fs::exists(out.handle.staging_dir));
}

TEST(Isolation, AlternativesLinksResolveReadOnly) {
  // /usr/bin/awk -> /etc/alternatives/awk -> /usr/bin/mawk: programs a payload may exec resolve,
  // and the bind-mounted alternatives cannot be changed.
  ASSERT_TRUE(fs::is_symlink("/etc/alternatives/awk")) << "host has no awk alternative";
  JailOutcome out;
  auto seen = run_in_jail(
      "import os, json\n"
      "try:\n    os.symlink('/tmp/x', '/etc/alternatives/modelvet-test'); writable = True\n"
      "except OSError: writable = False\n"
      "print(json.dumps({'awk': os.access(os.path.realpath('/usr/bin/awk'), os.X_OK), 'writable': writable}))",
      &out);
  ASSERT_TRUE(seen.is_object()) << out.output;
  EXPECT_TRUE(seen["awk"].get<bool>());
  EXPECT_FALSE(seen["writable"].get<bool>());
}
