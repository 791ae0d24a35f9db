// The fake network carries what a payload sent exactly: DNS names, HTTP fields and payload
// previews that are not UTF-8 (or hold `\`) come out as bytes text (trace/bytes_text.h).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "sandbox/fake_net.h"
#include "trace/bytes_text.h"

namespace modelvet::sandbox {
namespace {

uint16_t port_of(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

int bound(int type) {
  int fd = socket(AF_INET, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);  // the service loops drain until EAGAIN
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  if (type == SOCK_STREAM) listen(fd, 8);
  return fd;
}

sockaddr_in loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

TEST(FakeNetBytes, DnsNamesHttpFieldsAndPreviewsAreExactBytesText) {
  // Sockets on the host's loopback, like the ones the bridge binds inside a jail.
  int tcp = bound(SOCK_STREAM), udp = bound(SOCK_DGRAM);
  uint16_t tcp_port = port_of(tcp), udp_port = port_of(udp);
  std::string error;
  auto net = FakeNetwork::serve(FakeNetSockets{tcp, udp, -1}, &error);
  ASSERT_TRUE(net) << error;

  const std::string label = "x\xe9\xff\\";  // not UTF-8, and a backslash
  std::string q = std::string("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00", 12) + char(label.size()) + label +
                  std::string("\x07invalid\x00\x00\x01\x00\x01", 13);
  int c = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in to = loopback(udp_port);
  ASSERT_EQ(sendto(c, q.data(), q.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to), ssize_t(q.size()));
  close(c);

  const std::string request = "GET /\xe9\xff?a=\\ HTTP/1.1\r\nHost: h\xfe.invalid\r\n\r\nbody\xff\\";
  int t = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in tcp_to = loopback(tcp_port);
  ASSERT_EQ(connect(t, reinterpret_cast<sockaddr*>(&tcp_to), sizeof tcp_to), 0);
  ASSERT_EQ(write(t, request.data(), request.size()), ssize_t(request.size()));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  close(t);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));

  Events events = net->stop();
  const Event* dns = nullptr;
  const Event* http = nullptr;
  for (const Event& e : events) {
    if (e.kind == kinds::kDns) dns = &e;
    if (e.kind == kinds::kHttp) http = &e;
  }
  ASSERT_TRUE(dns);
  ASSERT_TRUE(http);
  std::string name = dns->data.value("name", "");
  EXPECT_EQ(name, "x\\xe9\\xff\\\\.invalid");
  EXPECT_EQ(unescape_bytes(name), label + ".invalid");
  EXPECT_EQ(unescape_bytes(http->data.value("path", "")), "/\xe9\xff?a=\\");
  EXPECT_EQ(unescape_bytes(http->data.value("host", "")), "h\xfe.invalid");
  EXPECT_EQ(unescape_bytes(http->data.value("payload", "")), request);
  EXPECT_EQ(unescape_bytes(http->data.value("sent_preview", "")), request);
  for (const Event& e : events) EXPECT_NO_THROW(to_json(e).dump()) << "not valid UTF-8";
}

TEST(FakeNetBytes, PreviewEscapesBackslashSoItIsExact) {
  EXPECT_EQ(printable_preview("a\\x41", 100), "a\\\\x41");
  EXPECT_EQ(unescape_bytes(printable_preview("a\\x41", 100)), "a\\x41");
}

}  // namespace
}  // namespace modelvet::sandbox
