// The sandbox-check probe suite (corpus/evasion.py, issue #14) through the real binary, jail and
// tracer: each sample runs one common anti-sandbox check and its payload only when the check says
// the machine is a real workstation. Every one must end malicious with its payload run; the test
// prints the checks that gave the jail away. Also: the jail's network card leads only into the
// fake network (a connect to an outside address and a query to the gateway are steered there and
// answered).
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>

#include <fmt/core.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "sandbox/fake_net.h"
#include "tests/detonation_support.h"
#include "trace/trace.h"

namespace fs = std::filesystem;
using namespace modelvet;
using namespace modelvet::testing;

namespace {

std::string dotted(const std::array<uint8_t, 4>& a) { return fmt::format("{}.{}.{}.{}", a[0], a[1], a[2], a[3]); }

const std::string kCorpus = std::string(MODELVET_BINARY_DIR) + "/corpus";
const std::string kEvasionDir = "malicious/evasion/";

// Did the payload run: the sample's own marker was written (the check's own effects, a DNS query
// or a decoy read, may make a verdict malicious without it).
bool payload_ran(const nlohmann::json& result, const std::string& technique) {
  const std::string marker = "/tmp/mv_marker_" + technique;
  if (result.value("verdict", "") != "malicious" || !result.contains("behavior")) return false;
  for (const auto& written : result["behavior"]["files"]["written"])
    if (written.is_string() && written.get<std::string>() == marker) return true;
  return false;
}

// A protocol-0 pickle whose REDUCE runs `code` with exec.
}  // namespace

TEST(Evasion, EveryProbeSeesAWorkstationAndRunsItsPayload) {
  assert_jail_is_isolated();
  std::vector<nlohmann::json> rows;
  for (const auto& r : read_manifest(kCorpus))
    if (r.value("file", "").rfind(kEvasionDir, 0) == 0) rows.push_back(r);
  ASSERT_GE(rows.size(), 30u) << "corpus missing the evasion probes: build the `corpus` target";

  const fs::path out = fs::path(MODELVET_BINARY_DIR) / "e2e-evasion";
  fs::remove_all(out);
  fs::create_directories(out);
  // One batch for the whole suite.
  auto run = run_modelvet(fmt::format("batch --quiet --jobs 2 --timeout 60 --output {} {}", (out / "results.jsonl").string(),
                                      kCorpus + "/" + kEvasionDir));
  std::map<std::string, nlohmann::json> by_file;
  std::ifstream lines(out / "results.jsonl");
  for (std::string line; std::getline(lines, line);) {
    auto doc = nlohmann::json::parse(line, nullptr, false);
    if (doc.is_object() && doc.contains("path") && doc.contains("verdict"))
      by_file[fs::relative(doc["path"].get<std::string>(), kCorpus).string()] = doc;
  }
  std::vector<std::string> gave_away;
  int passed = 0;
  for (const auto& row : rows) {
    const std::string file = row["file"], technique = row["technique"];
    auto it = by_file.find(file);
    if (it == by_file.end()) {
      gave_away.push_back(fmt::format("{}: no result", technique));
      continue;
    }
    if (payload_ran(it->second, technique)) {
      ++passed;
    } else {
      gave_away.push_back(fmt::format("{} ({}): verdict {} — {}", technique, row.value("description", ""),
                                      it->second.value("verdict", ""), it->second.value("summary", "")));
    }
  }
  std::cout << fmt::format("evasion probes: {} of {} saw a workstation and ran their payload", passed, rows.size()) << std::endl;
  for (const auto& g : gave_away) ADD_FAILURE() << "the jail gave itself away to " << g;
  EXPECT_EQ(run.exit_code, 1);  // malicious files present
  // Payloads wrote their markers inside the jail's /tmp, never the host's.
  for (auto& entry : fs::directory_iterator("/tmp"))
    EXPECT_EQ(entry.path().filename().string().rfind("mv_marker_evasion", 0), std::string::npos) << entry.path();
}

// A connect to an outside address and a DNS query sent to the gateway leave by the jail's NIC's
// default route in the sample's eyes; both are steered into the fake network, which records them
// and answers (each answer is proven by a second connection carrying what came back).
TEST(Evasion, TrafficThroughTheNicReachesOnlyTheFakeNetwork) {
  assert_jail_is_isolated();
  const fs::path dir = fs::temp_directory_path() / fmt::format("mv-evasion-net-{}", getpid());
  fs::create_directories(dir / "traces");
  const std::string sample = (dir / "steer.pkl").string();
  std::ofstream(sample, std::ios::binary) << exec_pickle(fmt::format(R"(import socket, struct
s = socket.create_connection(('203.0.113.5', 443), timeout=3)
s.sendall(b'steer-probe-443')
s.close()
addr = socket.gethostbyname('steer-check.invalid')
socket.create_connection((addr, 80), timeout=3).sendall(('resolved ' + addr).encode())
q = struct.pack('>HHHHHH', 0x4d56, 0x0100, 1, 0, 0, 0) + b'\x08gw-check\x07invalid\x00\x00\x01\x00\x01'
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.settimeout(2)
u.sendto(q, ('{}', 53))
r = u.recv(512)
socket.create_connection(('127.0.0.1', 4444), timeout=3).sendall(('gateway answered ' + socket.inet_ntoa(r[-4:])).encode())
)", sandbox::kJailGateway));
  for (const char* tracer : {"ebpf", "ptrace"}) {
    SCOPED_TRACE(tracer);
    auto [doc, out] = modelvet::testing::scan_with_tracer(tracer, (dir / "traces").string(), sample);
    ASSERT_FALSE(doc.is_discarded()) << out;
    const auto& result = doc["results"][0];
    EXPECT_EQ(result["verdict"], "malicious") << result.dump(2);
    ASSERT_TRUE(result.contains("trace")) << result.dump(2);
    Trace trace;
    std::string error;
    ASSERT_TRUE(read_trace(result["trace"], &trace, &error)) << error;
    bool outside = false, resolved = false, gateway_answered = false, dns_direct = false, dns_gateway = false;
    for (const Event& e : trace.events) {
      if (e.source != kSourceNet) continue;
      const std::string payload = str_field(e.data, "payload");
      outside |= payload == "steer-probe-443" && str_field(e.data, "dst") == "203.0.113.5" && e.data.value("port", 0) == 443;
      resolved |= payload == "resolved " + dotted(sandbox::fake_address_for("steer-check.invalid"));
      gateway_answered |= payload == "gateway answered " + dotted(sandbox::fake_address_for("gw-check.invalid"));
      if (e.kind == kinds::kDns) {
        dns_direct |= str_field(e.data, "name") == "steer-check.invalid";
        dns_gateway |= str_field(e.data, "name") == "gw-check.invalid";
      }
    }
    EXPECT_TRUE(outside) << "the connect to 203.0.113.5:443 did not reach the fake network";
    EXPECT_TRUE(dns_direct && resolved) << "the resolver (resolv.conf) did not answer";
    EXPECT_TRUE(dns_gateway && gateway_answered) << "a query to the gateway was not steered to the fake DNS and answered";
    fs::remove(result["trace"].get<std::string>());
  }
  fs::remove_all(dir);
}
