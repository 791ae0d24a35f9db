// End to end without root: the real binary, started as an unprivileged user (nobody), detonates
// the demo corpus in rootless jails (a user namespace each) under the ptrace tracer, which also
// steers the sample's connections to the fake network. Verdicts must match the labels, the
// exfiltration's bytes must be captured, and doctor must say which mode it is in.
#include <unistd.h>

#include <filesystem>
#include <map>

#include <fmt/core.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/detonation_support.h"

using modelvet::testing::assert_jail_is_isolated;
using modelvet::testing::kBinary;
using modelvet::testing::run_command;

namespace fs = std::filesystem;

namespace {

const std::string kAsNobody = "setpriv --reuid=65534 --regid=65534 --clear-groups ";

// The binary and the demo corpus, copied where nobody can reach them (a checkout under /root is
// not); removed when the test binary ends.
struct NobodyStage {
  std::string dir, binary, demo;
  NobodyStage() {
    char tmpl[] = "/tmp/modelvet-e2e-nobody-XXXXXX";
    dir = mkdtemp(tmpl);
    binary = dir + "/modelvet";
    demo = dir + "/demo-corpus";
    fs::copy_file(kBinary, binary);
    fs::copy(std::string(MODELVET_BINARY_DIR) + "/demo-corpus", demo, fs::copy_options::recursive);
    for (auto& e : fs::recursive_directory_iterator(dir))
      fs::permissions(e.path(), e.is_directory() || e.path() == binary ? fs::perms(0755) : fs::perms(0644));
    fs::permissions(dir, fs::perms(0755));
  }
  ~NobodyStage() { fs::remove_all(dir); }
};

const NobodyStage& stage() {
  static NobodyStage s;
  return s;
}

nlohmann::json run_as_nobody(const std::string& args) {
  auto r = run_command(kAsNobody + stage().binary + " " + args + " 2>/dev/null");
  return nlohmann::json::parse(r.out, nullptr, false);
}

}  // namespace

TEST(EndToEndRootless, DoctorReportsTheRootlessMode) {
  ASSERT_EQ(geteuid(), 0u) << "this test drops to nobody itself";
  auto doc = run_as_nobody("doctor --format json");
  ASSERT_TRUE(doc.is_object()) << "doctor printed no JSON as nobody";
  EXPECT_TRUE(doc.value("ready", false)) << doc.dump(2);
  EXPECT_EQ(doc["host"]["sandbox"], "userns+namespaces+seccomp");
  EXPECT_NE(doc.value("mode", "").find("userns"), std::string::npos) << doc.dump(2);
  EXPECT_TRUE(doc["checks"]["user_namespaces"].value("ok", false));
}

TEST(EndToEndRootless, DemoCorpusVerdictsMatchLabelsWithoutRoot) {
  assert_jail_is_isolated();
  const std::string demo = stage().demo;
  auto rows = modelvet::testing::read_manifest(demo);
  ASSERT_GE(rows.size(), 8u);
  auto doc = run_as_nobody(fmt::format("scan --format json --jobs 2 {0}/malicious {0}/benign", demo));
  ASSERT_TRUE(doc.is_object()) << "scan printed no JSON as nobody";
  EXPECT_EQ(doc["host"]["sandbox"], "userns+namespaces+seccomp");
  EXPECT_EQ(doc["host"]["tracer"], "ptrace");
  auto check = modelvet::testing::check_labels(rows, doc, demo);
  std::printf("%s", modelvet::testing::confusion_table(check.matrix).c_str());
  for (const auto& [row, result] : check.mismatches)
    ADD_FAILURE() << row["file"] << ": label " << row["label"] << ", got " << (result.is_null() ? "nothing" : result.dump(1));

  // The credential stealer's POST reached the fake network through the ptrace steering, and the
  // report quotes the decoy secret it carried.
  const nlohmann::json* exfil = nullptr;
  for (const auto& res : doc["results"])
    if (res["path"].get<std::string>().find("cred_aws_exfil") != std::string::npos) exfil = &res;
  ASSERT_NE(exfil, nullptr);
  bool captured = false;
  for (const auto& n : (*exfil)["behavior"]["network"])
    captured |= n.value("port", 0) == 4444 && n.value("sent_preview", "").find("aws_secret_access_key") != std::string::npos;
  EXPECT_TRUE(captured) << (*exfil)["behavior"].dump(1);
  bool exfil_finding = false;
  for (const auto& f : (*exfil)["findings"]) exfil_finding |= f.value("rule", "") == "exfiltration.decoy_secret";
  EXPECT_TRUE(exfil_finding);
}

TEST(EndToEndRootless, EbpfIsRefusedWithoutRootInsteadOfRunningUnobserved) {
  assert_jail_is_isolated();  // should the refusal fail, a sample would run: only in a closed jail
  auto r = run_command(fmt::format("{}{} scan --tracer ebpf --format json {}/benign 2>&1", kAsNobody, stage().binary, stage().demo));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("eBPF needs root"), std::string::npos) << r.out;
}
