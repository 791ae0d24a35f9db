// Fake-network sessions are attributed to the connect of the same socket, through the real jail
// and tracer: two concurrent connections keep their own destinations, and a DNS query that went
// straight to the jail's resolver does not take a redirected datagram's destination.
#include <fstream>

#include "tests/detonation_support.h"
#include "trace/trace.h"

using namespace modelvet;
using namespace modelvet::testing;

namespace {

// The code the sample's pickle runs with exec (exec_pickle, tests/detonation_support.h). Every address is loopback.
const char* kTwoConnectionsAndADatagram = R"(import socket
a = socket.create_connection(("127.0.0.2", 9001), timeout=2)
b = socket.create_connection(("127.0.0.3", 9002), timeout=2)
b.sendall(b"to-b payload")
a.sendall(b"to-a payload")
b.close()
a.close()
try:
    socket.getaddrinfo("attribution-check.invalid", 80)
except OSError:
    pass
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.sendto(b"udp-to-c payload", ("127.0.0.4", 7777))
u.close()
)";

const Event* session_with(const Events& events, const std::string& payload) {
  for (const Event& e : events)
    if (e.source == kSourceNet && str_field(e.data, "payload").find(payload) != std::string::npos) return &e;
  return nullptr;
}

}  // namespace

TEST(Attribution, ConcurrentConnectionsAndADirectDnsQueryKeepTheirOwnDestinations) {
  assert_jail_is_isolated();
  auto dir = std::filesystem::temp_directory_path() / fmt::format("mv-attrib-{}", getpid());
  std::filesystem::create_directories(dir / "traces");
  std::string sample = (dir / "two_connections.pkl").string();
  std::ofstream(sample, std::ios::binary) << exec_pickle(kTwoConnectionsAndADatagram);

  for (const char* tracer : {"ebpf", "ptrace"}) {
    SCOPED_TRACE(tracer);
    auto [doc, out] = modelvet::testing::scan_with_tracer(tracer, (dir / "traces").string(), sample);
    ASSERT_FALSE(doc.is_discarded()) << out;
    const auto& result = doc["results"][0];
    ASSERT_TRUE(result.contains("trace")) << result.dump(2);
    Trace trace;
    std::string error;
    ASSERT_TRUE(read_trace(result["trace"], &trace, &error)) << error;

    const Event* a = session_with(trace.events, "to-a payload");
    const Event* b = session_with(trace.events, "to-b payload");
    const Event* c = session_with(trace.events, "udp-to-c payload");
    ASSERT_TRUE(a && b && c) << "missing fake-network sessions";
    EXPECT_EQ(str_field(a->data, "dst"), "127.0.0.2");
    EXPECT_EQ(a->data.value("port", 0), 9001);
    EXPECT_EQ(str_field(b->data, "dst"), "127.0.0.3");
    EXPECT_EQ(b->data.value("port", 0), 9002);
    EXPECT_EQ(str_field(c->data, "dst"), "127.0.0.4");
    EXPECT_EQ(c->data.value("port", 0), 7777);
    for (const Event* e : {a, b}) EXPECT_EQ(str_field(e->data, "attribution"), "socket") << e->data.dump();
    EXPECT_EQ(str_field(c->data, "attribution").rfind("socket", 0), 0u) << c->data.dump();
    for (const Event& e : trace.events)
      if (e.source == kSourceNet && e.kind == kinds::kDns && str_field(e.data, "name").find("attribution-check") == 0)
        EXPECT_FALSE(e.data.contains("dst")) << "a direct query took a redirected destination: " << e.data.dump();
    EXPECT_EQ(result["verdict"], "malicious") << result.dump(2);
    std::filesystem::remove(result["trace"].get<std::string>());
  }
  std::filesystem::remove_all(dir);
}
