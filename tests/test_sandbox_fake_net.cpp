// The fake network's protocol pieces: DNS parsing and answers, and byte previews.
#include <array>
#include <set>

#include <fmt/core.h>
#include <gtest/gtest.h>

#include "sandbox/fake_net.h"

using namespace modelvet::sandbox;

namespace {
// A DNS query for `name`, type A, as a resolver sends it.
std::vector<uint8_t> dns_query(const std::string& name, uint16_t qtype = 1) {
  std::vector<uint8_t> q = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
  size_t start = 0;
  while (start <= name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    q.push_back(uint8_t(dot - start));
    q.insert(q.end(), name.begin() + start, name.begin() + dot);
    start = dot + 1;
  }
  q.push_back(0);
  q.push_back(qtype >> 8), q.push_back(qtype & 0xff), q.push_back(0), q.push_back(1);
  return q;
}
}  // namespace

TEST(FakeDns, ParsesQueryNameAndType) {
  auto q = dns_query("c2.evil.invalid", 28);
  std::string name;
  uint16_t type = 0;
  ASSERT_TRUE(parse_dns_query(q.data(), q.size(), &name, &type));
  EXPECT_EQ(name, "c2.evil.invalid");
  EXPECT_EQ(type, 28);
}

TEST(FakeDns, RejectsResponsesAndGarbage) {
  auto q = dns_query("x.invalid");
  q[2] |= 0x80;  // QR bit: a response
  std::string name;
  uint16_t type;
  EXPECT_FALSE(parse_dns_query(q.data(), q.size(), &name, &type));
  const uint8_t junk[] = {1, 2, 3};
  EXPECT_FALSE(parse_dns_query(junk, sizeof junk, &name, &type));
  auto truncated = dns_query("abcdef.invalid");
  truncated.resize(16);
  EXPECT_FALSE(parse_dns_query(truncated.data(), truncated.size(), &name, &type));
  EXPECT_TRUE(build_dns_answer(junk, sizeof junk).empty());
}

TEST(FakeDns, AnswersARecordsWithAPlausibleAddressPerName) {
  auto q = dns_query("exfil.evil.invalid");
  auto a = build_dns_answer(q.data(), q.size());
  ASSERT_GT(a.size(), q.size());
  EXPECT_EQ(a[0], 0x12);           // same id
  EXPECT_TRUE(a[2] & 0x80);        // a response
  EXPECT_EQ(a[7], 1);              // one answer
  std::vector<uint8_t> tail(a.end() - 4, a.end());
  auto expected = fake_address_for("exfil.evil.invalid");
  EXPECT_EQ(tail, std::vector<uint8_t>(expected.begin(), expected.end()));
  EXPECT_EQ(fake_address_for("EXFIL.evil.INVALID"), expected);  // names are case-insensitive
  auto aaaa = dns_query("exfil.evil.invalid", 28);
  auto empty = build_dns_answer(aaaa.data(), aaaa.size());
  EXPECT_EQ(empty[7], 0);          // no answer, NOERROR
}

TEST(FakeNet, PreviewEscapesNonPrintablesAndIsBounded) {
  EXPECT_EQ(printable_preview(std::string("ab\n\x01", 4), 100), "ab\\n\\x01");
  EXPECT_EQ(printable_preview(std::string(1000, 'x'), 10).size(), 10u);
}

// A payload that resolves two names (or a random one) and compares the answers, or checks them
// against reserved ranges, must see what the Internet would give: distinct public addresses.
TEST(FakeDns, AddressesDifferAcrossNamesAndAvoidReservedRanges) {
  std::set<std::array<uint8_t, 4>> seen;
  for (int i = 0; i < 500; ++i) {
    auto a = fake_address_for(fmt::format("host{}.example-{}.com", i, i * 7));
    seen.insert(a);
    SCOPED_TRACE(fmt::format("{}.{}.{}.{}", a[0], a[1], a[2], a[3]));
    EXPECT_NE(a[0], 10);
    EXPECT_NE(a[0], 127);
    EXPECT_FALSE(a[0] == 100 && (a[1] & 0xc0) == 64);                   // CGNAT 100.64/10
    EXPECT_FALSE(a[0] == 172 && (a[1] & 0xf0) == 16);                   // 172.16/12
    EXPECT_FALSE(a[0] == 192 && (a[1] == 168 || a[1] == 0));            // 192.168/16, 192.0.2/24
    EXPECT_FALSE(a[0] == 198 && (a[1] == 51 || a[1] == 18 || a[1] == 19));  // TEST-NET-2, benchmarking
    EXPECT_FALSE(a[0] == 203 && a[1] == 0);                             // TEST-NET-3
    EXPECT_LT(a[0], 224);                                               // multicast and above
    EXPECT_NE(a[3], 0);
    EXPECT_NE(a[3], 255);
  }
  EXPECT_GT(seen.size(), 490u);
}

// A name nobody registered does not resolve on the Internet: a payload that resolves a random
// name and sees an address knows it is in a sandbox. Service-like names still get one.
TEST(FakeDns, MachineMadeNamesGetNxdomainServiceNamesAnAddress) {
  for (const char* made : {"xq7zk3vbn9wp.invalid", "a1b2c3d4.probe.invalid", "qwrtzpsdfghk.com",
                           "0123456789abcdef0123.t.exfil.invalid", "ZXCVBNMQWRT.invalid"}) {
    SCOPED_TRACE(made);
    EXPECT_TRUE(looks_generated(made));
    auto q = dns_query(made);
    auto a = build_dns_answer(q.data(), q.size());
    ASSERT_GE(a.size(), q.size());
    EXPECT_TRUE(a[2] & 0x80);      // a response
    EXPECT_EQ(a[3] & 0x0f, 3);     // NXDOMAIN
    EXPECT_EQ(a[7], 0);            // no answer
  }
  for (const char* service : {"exfil.evil.invalid", "telemetry.acme.invalid", "cdn.probe-one.invalid",
                              "api.probe-two.invalid", "gpu-ws-07", "update01.mirror.invalid", "s3-us-west-2.invalid",
                              "c2.evil.invalid", "huggingface.co", "checkpoints.invalid", "transformers.invalid"}) {
    SCOPED_TRACE(service);
    EXPECT_FALSE(looks_generated(service));
    auto q = dns_query(service);
    auto a = build_dns_answer(q.data(), q.size());
    EXPECT_EQ(a[3] & 0x0f, 0);     // NOERROR
    EXPECT_EQ(a[7], 1);
  }
}
