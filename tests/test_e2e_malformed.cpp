// Malformed input end to end: one `modelvet scan` over a directory of broken, hostile-shaped and
// odd-named files plus special files given by name (FIFO, device, symlink loop, dangling link).
// Every input gets exactly one result with a verdict class and a reason; nothing crashes, the
// FIFO never blocks, and the run ends (bounded by a generous timeout only, never timed).
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "tests/detonation_support.h"
#include "trace/bytes_text.h"

namespace {
namespace fs = std::filesystem;
using modelvet::escape_bytes;
using modelvet::testing::assert_jail_is_isolated;
using modelvet::testing::kBinary;
using modelvet::testing::run_command;

void write(const fs::path& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

std::string repeat(const std::string& s, size_t n) {
  std::string out;
  out.reserve(s.size() * n);
  for (size_t i = 0; i < n; ++i) out += s;
  return out;
}

std::string le64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = char((v >> (8 * i)) & 0xff);
  return s;
}

const std::string kQuiet = std::string("\x80\x02}q\x00.", 6);  // an empty dict

// Zips written by Python's zipfile (stdlib, nothing loaded): a bomb of zeros, one to corrupt.
bool python_zip(const fs::path& path, const std::string& member, const std::string& spec) {
  std::string code = fmt::format(
      "import zipfile,sys\n"
      "with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:\n"
      "    z.writestr('{}', {})\n", member, spec);
  std::string script = path.string() + ".py";
  write(script, code);
  bool ok = run_command(fmt::format("python3 '{}' '{}'", script, path.string())).exit_code == 0;
  fs::remove(script);
  return ok;
}

struct Expect {
  std::set<std::string> verdicts;  // acceptable verdict classes
  std::string reason;              // a substring the summary must hold ("" = any non-empty)
};

TEST(E2eMalformed, EveryBrokenInputGetsOneResultWithAReasonAndTheRunGoesOn) {
  assert_jail_is_isolated();
  const fs::path root = fs::temp_directory_path() / fmt::format("mv-malformed-{}", getpid());
  fs::remove_all(root);
  const fs::path dir = root / "inputs", special = root / "special";
  fs::create_directories(dir);
  fs::create_directories(special);
  std::map<std::string, Expect> expect;  // by the path as the report gives it (bytes text)
  auto add = [&](const fs::path& p, Expect e) { expect[escape_bytes(p.string())] = std::move(e); };
  const std::set<std::string> kNotMalicious = {"error", "suspicious", "benign"};
  const std::set<std::string> kErrorOrSuspicious = {"error", "suspicious"};

  write(dir / "empty.pkl", "");
  add(dir / "empty.pkl", {{"error"}, "empty file"});
  write(dir / "truncated.zip", std::string("PK\x03\x04\x14\x00\x00\x00\x08\x00", 10));
  add(dir / "truncated.zip", {kNotMalicious, ""});
  ASSERT_TRUE(python_zip(dir / "corrupt.zip", "archive/data.pkl", "b'\\x80\\x02}q\\x00.' * 64"));
  {
    std::fstream z(dir / "corrupt.zip", std::ios::in | std::ios::out | std::ios::binary);
    z.seekp(40);
    z.write("\xde\xad\xbe\xef\xde\xad\xbe\xef", 8);  // inside the member's data: CRC and inflate fail
  }
  add(dir / "corrupt.zip", {kNotMalicious, ""});
  // 256 MiB of zeros in one deflated member (~250 KiB on disk).
  ASSERT_TRUE(python_zip(dir / "zip_bomb.zip", "archive/data.pkl", "b'\\x00' * (256 << 20)"));
  add(dir / "zip_bomb.zip", {kNotMalicious, ""});
  // A 7z whose start header declares a next header 2^62 bytes away (no 7z writer on the host
  // for a real bomb: the declared-size path is the one a reader must bound).
  write(dir / "huge_header.7z", std::string("7z\xbc\xaf\x27\x1c\x00\x04", 8) + std::string(4, '\0') +
                                    le64(uint64_t(1) << 62) + le64(uint64_t(1) << 40) + std::string(4, '\0'));
  add(dir / "huge_header.7z", {kNotMalicious, ""});
  // Pickle bombs, bounded: 200k-deep nesting of lists (protocol 0 marks), a 1M-item list, a
  // memo-driven 2^40-leaf structure of shared tuples, an 8-byte length of 2^62.
  write(dir / "deep_nesting.pkl", repeat("(", 200000) + repeat("l", 200000) + ".");
  add(dir / "deep_nesting.pkl", {kNotMalicious, ""});
  write(dir / "huge_repeat.pkl", "(" + repeat("I1\n", 1000000) + "l.");
  add(dir / "huge_repeat.pkl", {kNotMalicious, ""});
  write(dir / "memo_bomb.pkl", std::string("\x80\x02]q\x00", 5) + repeat(std::string("h\x00h\x00\x86q\x00", 7), 40) + ".");
  add(dir / "memo_bomb.pkl", {kNotMalicious, ""});
  write(dir / "huge_length.pkl", std::string("\x80\x04\x8e", 3) + le64(uint64_t(1) << 62) + "abc.");
  add(dir / "huge_length.pkl", {kNotMalicious, ""});
  // Names: not UTF-8, at NAME_MAX, with a newline; the contents load quietly.
  const fs::path latin1 = dir / std::string("b_latin1_\xe9\xff.pkl");
  write(latin1, kQuiet);
  add(latin1, {kNotMalicious, ""});
  const fs::path long_name = dir / (std::string(250, 'n') + ".pkl");
  write(long_name, kQuiet);
  add(long_name, {kNotMalicious, ""});
  const fs::path newline = dir / "new\nline.pkl";
  write(newline, kQuiet);
  add(newline, {kNotMalicious, ""});
  // Unreadable: as root permissions do not apply and the file is verified like any other.
  const fs::path unreadable = dir / "unreadable.pkl";
  write(unreadable, kQuiet);
  chmod(unreadable.c_str(), 0);
  add(unreadable, geteuid() == 0 ? Expect{kNotMalicious, ""} : Expect{{"error"}, "cannot"});

  // Special files, given by name (the walk skips symlinks and non-regular files).
  const fs::path fifo = special / "model.fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0644), 0);
  add(fifo, {{"error"}, "FIFO"});
  add("/dev/null", {{"error"}, "character device"});
  fs::create_symlink(special / "loop_b", special / "loop_a");
  fs::create_symlink(special / "loop_a", special / "loop_b");
  add(special / "loop_a", {{"error"}, "symbolic links"});
  fs::create_symlink(special / "nowhere.pkl", special / "dangling.pkl");
  add(special / "dangling.pkl", {{"error"}, "No such file"});

  // A directory that changes while it is walked and verified: files appear and vanish.
  const fs::path churn = root / "churn";
  fs::create_directories(churn);
  for (int i = 0; i < 6; ++i) write(churn / fmt::format("c{}.pkl", i), kQuiet);
  std::atomic<bool> stop{false};
  std::thread churner([&] {
    for (int i = 0; !stop; ++i) {
      std::error_code ec;
      fs::remove(churn / fmt::format("c{}.pkl", i % 6), ec);
      write(churn / fmt::format("n{}.pkl", i % 5), kQuiet);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });

  std::string args = fmt::format("scan --format json --jobs 2 --timeout 20 --grace-ms 200 '{}' '{}' /dev/null '{}' '{}' '{}'",
                                 dir.string(), fifo.string(), (special / "loop_a").string(),
                                 (special / "dangling.pkl").string(), churn.string());
  // `timeout` is the generous bound (a blocked FIFO open would hang here); never a timing assertion.
  auto run = run_command(fmt::format("timeout -s KILL 900 {} {} 2>/dev/null", kBinary, args));
  stop = true;
  churner.join();
  ASSERT_NE(run.exit_code, -1) << "modelvet did not exit";
  EXPECT_TRUE(run.exit_code == 1 || run.exit_code == 2) << "exit " << run.exit_code;
  ASSERT_NE(run.exit_code, 137) << "killed by the timeout: something blocked";
  auto doc = nlohmann::json::parse(run.out, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << "not one JSON document: " << run.out.substr(0, 2000);
  ASSERT_TRUE(modelvet::is_valid_utf8(run.out));

  std::map<std::string, int> seen;
  for (const auto& r : doc["results"]) {
    std::string path = r.value("path", "");
    std::string verdict = r.value("verdict", "");
    std::string summary = r.value("summary", "");
    EXPECT_FALSE(summary.empty()) << "no reason for " << path;
    EXPECT_NE(verdict, "malicious") << r.dump(2);
    seen[path]++;
    if (path.rfind(churn.string(), 0) == 0) continue;  // whatever the churn left: checked for shape only
    auto it = expect.find(path);
    if (it == expect.end()) {
      ADD_FAILURE() << "a result for no input: " << path;
      continue;
    }
    EXPECT_TRUE(it->second.verdicts.count(verdict)) << path << ": " << verdict << "\n" << r.dump(2);
    if (!it->second.reason.empty())
      EXPECT_NE(summary.find(it->second.reason), std::string::npos) << path << ": " << summary;
  }
  for (const auto& [path, e] : expect) {
    int n = seen[path];
    EXPECT_EQ(n, 1) << "results for " << path;
  }
  // The non-UTF-8 name is carried exactly: its bytes come back from the report.
  EXPECT_EQ(modelvet::unescape_bytes(escape_bytes(latin1.string())), latin1.string());
  EXPECT_TRUE(seen.count(escape_bytes(latin1.string())));
  EXPECT_TRUE(seen.count(escape_bytes(newline.string())));
  chmod(unreadable.c_str(), 0644);
  fs::remove_all(root);
}

}  // namespace
