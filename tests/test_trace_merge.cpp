// The merge joins kernel, harness and fake-network evidence into one trace: ordering across
// sources, clock alignment, and attribution of fake-network sessions by socket identity.
#include <gtest/gtest.h>

#include "trace/merge.h"

using namespace modelvet;

namespace {

Event ev(uint64_t t, const char* source, const char* kind, nlohmann::json data = nlohmann::json::object(), int pid = 7) {
  Event e;
  e.t_ns = t;
  e.source = source;
  e.kind = kind;
  e.pid = pid;
  e.data = std::move(data);
  return e;
}

Event redirect(uint64_t t, uint64_t cookie, const char* proto, const char* addr, int port) {
  return ev(t, kSourceKernel, kinds::kNetRedirect,
            {{"sock", cookie}, {"proto", proto}, {"orig_addr", addr}, {"orig_port", port}, {"redirected", true}});
}

Event session(uint64_t t, const char* kind, uint64_t cookie, std::string payload) {
  nlohmann::json d = {{"port", 40000}, {"payload", payload}};
  if (cookie) d["sock"] = cookie;
  return ev(t, kSourceNet, kind, d, 0);
}

const Event* find_payload(const Events& events, const std::string& payload) {
  for (const Event& e : events)
    if (e.source == kSourceNet && str_field(e.data, "payload") == payload) return &e;
  return nullptr;
}

}  // namespace

TEST(Merge, OrdersAllSourcesByTimeAndDropsTheJailsOwnSetup) {
  MergeInputs in;
  in.release_t_ns = 100;
  in.kernel = {ev(50, kSourceKernel, kinds::kOpen), ev(300, kSourceKernel, kinds::kExec), ev(120, kSourceKernel, kinds::kOpen)};
  in.python_lines = {R"({"t_ns":200,"source":"python","kind":"phase","pid":2,"name":"load"})",
                     R"({"t_ns":110,"source":"kernel","kind":"call","pid":2})"};  // claims kernel: it is python
  in.net = {session(250, kinds::kDns, 0, "q")};
  MergeResult out = merge_sources(in);
  ASSERT_EQ(out.events.size(), 5u);
  std::vector<uint64_t> times;
  for (const Event& e : out.events) times.push_back(e.t_ns);
  EXPECT_EQ(times, (std::vector<uint64_t>{110, 120, 200, 250, 300}));
  EXPECT_EQ(out.events[0].source, kSourcePython);  // whatever the line said
  EXPECT_EQ(out.events[0].kind, kinds::kCall);
  EXPECT_TRUE(out.errors.empty());
}

TEST(Merge, BringsEachSourcesClockToTheKernels) {
  MergeInputs in;
  in.kernel = {ev(1000, kSourceKernel, kinds::kExec)};
  // A jail with its own time namespace: its clock runs 5000 ns ahead of the host's.
  in.python_lines = {R"({"t_ns":5900,"source":"python","kind":"phase","pid":2,"name":"load"})"};
  in.python_clock_offset_ns = -5000;
  in.net = {session(1500, kinds::kUdp, 0, "x")};
  in.net_clock_offset_ns = -1000;
  MergeResult out = merge_sources(in);
  ASSERT_EQ(out.events.size(), 3u);
  EXPECT_EQ(out.events[0].source, kSourceNet);
  EXPECT_EQ(out.events[0].t_ns, 500u);
  EXPECT_EQ(out.events[1].source, kSourcePython);
  EXPECT_EQ(out.events[1].t_ns, 900u);
  EXPECT_EQ(out.events[2].source, kSourceKernel);
}

TEST(Merge, MalformedOrUnknownHarnessLinesAreCountedNotTrusted) {
  MergeInputs in;
  in.python_lines = {"not json", "[1,2]", R"({"t_ns":1,"kind":"net_redirect","pid":2})",
                     R"({"t_ns":2,"kind":"audit","pid":2,"event":"open"})"};
  MergeResult out = merge_sources(in);
  EXPECT_EQ(out.malformed_python_lines, 3u);
  ASSERT_EQ(out.events.size(), 1u);
  EXPECT_EQ(out.events[0].kind, kinds::kAudit);
}

TEST(Merge, AnUnknownKindFromOurOwnProducersIsAnError) {
  MergeInputs in;
  in.kernel = {ev(1, kSourceKernel, "net_redirct")};
  MergeResult out = merge_sources(in);
  ASSERT_EQ(out.errors.size(), 1u);
  EXPECT_NE(out.errors[0].find("net_redirct"), std::string::npos);
}

TEST(Merge, TwoConcurrentConnectionsKeepTheirOwnDestinations) {
  // Socket 11 connects first, socket 12 second, but the fake network sees 12's session first
  // (its thread got there first): attribution by order would swap the destinations.
  MergeInputs in;
  in.kernel = {redirect(10, 11, "tcp", "198.51.100.1", 443), redirect(11, 12, "tcp", "203.0.113.9", 8080)};
  in.net = {session(12, kinds::kTcpConnect, 12, "to-b"), session(13, kinds::kHttp, 11, "to-a")};
  MergeResult out = merge_sources(in);
  const Event* a = find_payload(out.events, "to-a");
  const Event* b = find_payload(out.events, "to-b");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->data["dst"], "198.51.100.1");
  EXPECT_EQ(a->data["port"], 443);
  EXPECT_EQ(a->data["local_port"], 40000);
  EXPECT_EQ(b->data["dst"], "203.0.113.9");
  EXPECT_EQ(b->data["port"], 8080);
  EXPECT_EQ(a->data["attribution"], "socket");
  EXPECT_EQ(out.unattributed_sessions, 0u);
}

TEST(Merge, OneUdpSocketToSeveralDestinationsPairsInSendOrder) {
  MergeInputs in;
  in.kernel = {redirect(10, 21, "udp", "192.0.2.1", 53), redirect(20, 22, "tcp", "192.0.2.9", 80),
               redirect(30, 21, "udp", "192.0.2.2", 5353)};
  in.net = {session(15, kinds::kDns, 21, "first"), session(35, kinds::kUdp, 21, "second")};
  MergeResult out = merge_sources(in);
  EXPECT_EQ(find_payload(out.events, "first")->data["dst"], "192.0.2.1");
  EXPECT_EQ(find_payload(out.events, "second")->data["dst"], "192.0.2.2");
  EXPECT_EQ(find_payload(out.events, "second")->data["port"], 5353);
}

TEST(Merge, SessionsWithoutAMatchingSocketAreLabelledNeverGuessed) {
  MergeInputs in;
  in.kernel = {redirect(10, 31, "tcp", "198.51.100.1", 443)};
  // One session reached the fake network directly (no redirect record for its socket), one could
  // not be identified: neither takes socket 31's destination.
  in.net = {session(12, kinds::kDns, 32, "direct"), session(13, kinds::kTcpConnect, 0, "unknown")};
  MergeResult out = merge_sources(in);
  const Event* direct = find_payload(out.events, "direct");
  const Event* unknown = find_payload(out.events, "unknown");
  EXPECT_FALSE(direct->data.contains("dst"));
  EXPECT_NE(str_field(direct->data, "attribution").find("direct"), std::string::npos);
  EXPECT_FALSE(unknown->data.contains("dst"));
  EXPECT_NE(str_field(unknown->data, "attribution").find("unresolved"), std::string::npos);
  EXPECT_EQ(out.unattributed_sessions, 1u);
}

TEST(Merge, ADatagramWhoseSocketClosedAtOnceIsNamedByItsBoundPort) {
  MergeInputs in;
  Event r1 = redirect(10, 41, "udp", "192.0.2.7", 7777);
  r1.data["src_port"] = 50001;
  Event r2 = redirect(11, 42, "udp", "192.0.2.8", 8888);
  r2.data["src_port"] = 50002;
  in.kernel = {r1, r2};
  Event late = session(20, kinds::kUdp, 0, "late");   // sender gone before sock_diag could answer
  late.data["peer_port"] = 50002;
  Event stray = session(21, kinds::kUdp, 0, "stray");  // no cookie, no redirect from its port
  stray.data["peer_port"] = 50009;
  in.net = {late, stray};
  MergeResult out = merge_sources(in);
  const Event* l = find_payload(out.events, "late");
  EXPECT_EQ(l->data["dst"], "192.0.2.8");
  EXPECT_EQ(l->data["port"], 8888);
  EXPECT_EQ(l->data["attribution"], "socket (by its bound port)");
  const Event* s = find_payload(out.events, "stray");
  EXPECT_FALSE(s->data.contains("dst"));
  EXPECT_NE(str_field(s->data, "attribution").find("unresolved"), std::string::npos);
  EXPECT_EQ(out.unattributed_sessions, 1u);
}
