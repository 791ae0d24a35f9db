// The cgroup sock_addr hooks: a jailed child in a fresh network namespace (only lo) connects to
// a documentation address; the hook records where it was meant to go and steers it to the
// listener on 127.0.0.1:<port> in that same namespace. Nothing leaves the namespace.
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cstring>

#include "tests/test_tracer_support.h"

namespace modelvet::tracer::testing {
namespace {

constexpr uint16_t kTcpPort = 18080;
constexpr uint16_t kUdpPort = 18053;

bool bring_loopback_up() {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return false;
  ifreq ifr{};
  strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  bool ok = ioctl(s, SIOCGIFFLAGS, &ifr) == 0;
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  ok = ok && ioctl(s, SIOCSIFFLAGS, &ifr) == 0;
  close(s);
  return ok;
}

sockaddr_in v4(const char* addr, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, addr, &a.sin_addr);
  return a;
}

// In the jailed child, inside its own netns: listen on the redirect ports, then reach out.
int reach_documentation_addresses() {
  if (unshare(CLONE_NEWNET) != 0) return 20;
  if (!bring_loopback_up()) return 21;
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in l = v4("127.0.0.1", kTcpPort);
  if (bind(listener, reinterpret_cast<sockaddr*>(&l), sizeof(l)) != 0 || listen(listener, 4) != 0) return 22;
  int udp_sink = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in u = v4("127.0.0.1", kUdpPort);
  if (bind(udp_sink, reinterpret_cast<sockaddr*>(&u), sizeof(u)) != 0) return 23;

  int c = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in far = v4("203.0.113.7", 4444);
  if (connect(c, reinterpret_cast<sockaddr*>(&far), sizeof(far)) != 0) return 24;
  int accepted = accept(listener, nullptr, nullptr);
  if (accepted < 0) return 25;
  if (write(c, "hi", 2) != 2) return 26;
  char buf[8] = {};
  if (read(accepted, buf, sizeof(buf)) != 2 || memcmp(buf, "hi", 2) != 0) return 27;

  int d = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in resolver = v4("203.0.113.53", 53);
  if (sendto(d, "q", 1, 0, reinterpret_cast<sockaddr*>(&resolver), sizeof(resolver)) != 1) return 28;
  char q = 0;
  if (recv(udp_sink, &q, 1, 0) != 1 || q != 'q') return 29;
  return 0;
}

TEST(TracerRedirect, ConnectIsRecordedAndSteeredToTheJailsListener) {
  Tracer* tracer = shared_tracer();
  ASSERT_NE(tracer, nullptr);
  TestCgroup cg("redirect");
  std::string error;
  auto session = tracer->watch(cg.fd(), RedirectTarget{kTcpPort, kUdpPort}, &error);
  ASSERT_NE(session, nullptr) << error;
  int status = run_child(&cg, reach_documentation_addresses);
  Events events = tracer->finish(*session);
  SCOPED_TRACE(dump(events));
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child exit " << WEXITSTATUS(status);

  const Event* tcp = nullptr;
  const Event* udp = nullptr;
  const Event* connect_call = nullptr;
  for (const auto& e : events) {
    if (e.kind == "net_redirect" && e.data["orig_addr"] == "203.0.113.7") tcp = &e;
    if (e.kind == "net_redirect" && e.data["orig_addr"] == "203.0.113.53") udp = &e;
    if (e.kind == "connect" && e.data.value("addr", "") == "203.0.113.7") connect_call = &e;
  }
  ASSERT_NE(tcp, nullptr);
  EXPECT_EQ(tcp->data["orig_port"], 4444);
  EXPECT_EQ(tcp->data["proto"], "tcp");
  EXPECT_EQ(tcp->data["family"], "inet");
  EXPECT_EQ(tcp->data["redirected"], true);
  EXPECT_EQ(tcp->data["to_port"], kTcpPort);
  EXPECT_EQ(tcp->data["hook"], "connect4");
  ASSERT_NE(udp, nullptr);
  EXPECT_EQ(udp->data["orig_port"], 53);
  EXPECT_EQ(udp->data["proto"], "udp");
  EXPECT_EQ(udp->data["redirected"], true);
  EXPECT_EQ(udp->data["hook"], "sendmsg4");
  // The syscall view keeps the address the program asked for, and its success.
  ASSERT_NE(connect_call, nullptr);
  EXPECT_EQ(connect_call->data["port"], 4444);
  EXPECT_EQ(connect_call->data["ret"], 0);
  EXPECT_NE(find_if(events.begin(), events.end(), [](const Event& e) {
              return e.kind == "sendto" && e.data.value("addr", "") == "203.0.113.53" && e.data["proto"] == "udp";
            }), events.end());
}

TEST(TracerRedirect, WithoutPortsNothingIsRewritten) {
  Tracer* tracer = shared_tracer();
  ASSERT_NE(tracer, nullptr);
  TestCgroup cg("no-redirect");
  std::string error;
  auto session = tracer->watch(cg.fd(), RedirectTarget{}, &error);
  ASSERT_NE(session, nullptr) << error;
  int status = run_child(&cg, [] {
    if (unshare(CLONE_NEWNET) != 0 || !bring_loopback_up()) return 30;
    int c = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in far = v4("203.0.113.7", 4444);
    // Unrewritten, the destination is unreachable from a lo-only namespace.
    return connect(c, reinterpret_cast<sockaddr*>(&far), sizeof(far)) == -1 && errno == ENETUNREACH ? 0 : 31;
  });
  Events events = tracer->finish(*session);
  SCOPED_TRACE(dump(events));
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << WEXITSTATUS(status);
  auto seen = events_of_kind(events, "net_redirect");
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0]->data["redirected"], false);
  EXPECT_EQ(seen[0]->data["orig_addr"], "203.0.113.7");
}

}  // namespace
}  // namespace modelvet::tracer::testing
