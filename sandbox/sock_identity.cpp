#include "sandbox/sock_identity.h"

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstring>

namespace modelvet::sandbox {
namespace {

// The peer as the client socket sees its own address: an IPv4 client reaches the dual-stack
// listener as ::ffff:a.b.c.d, but its socket is AF_INET with source a.b.c.d.
// An unconnected UDP socket is bound to the ANY address: its source is whatever it sent from.
bool same_source(const inet_diag_msg& m, const sockaddr_in6& peer) {
  if (m.id.idiag_sport != peer.sin6_port) return false;
  static const uint32_t any[4] = {0, 0, 0, 0};
  if (m.idiag_family == AF_INET6)
    return memcmp(m.id.idiag_src, &peer.sin6_addr, 16) == 0 || memcmp(m.id.idiag_src, any, 16) == 0;
  return IN6_IS_ADDR_V4MAPPED(&peer.sin6_addr) &&
         (memcmp(m.id.idiag_src, &peer.sin6_addr.s6_addr[12], 4) == 0 || m.id.idiag_src[0] == 0);
}

bool request_dump(int fd, uint8_t family, uint8_t protocol) {
  struct {
    nlmsghdr nlh;
    inet_diag_req_v2 req;
  } msg{};
  msg.nlh.nlmsg_len = sizeof msg;
  msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  msg.req.sdiag_family = family;
  msg.req.sdiag_protocol = protocol;
  msg.req.idiag_states = ~0u;
  return send(fd, &msg, sizeof msg, 0) == static_cast<ssize_t>(sizeof msg);
}

// Reads the whole dump (it must be drained either way) and returns the matching socket's cookie.
uint64_t read_dump(int fd, int protocol, const sockaddr_in6& peer, uint16_t local_port) {
  uint64_t cookie = 0;
  alignas(nlmsghdr) char buf[16384];
  for (int rounds = 0; rounds < 256; ++rounds) {
    ssize_t len = recv(fd, buf, sizeof buf, 0);
    if (len <= 0) return cookie;
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, static_cast<size_t>(len)); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) return cookie;
      if (h->nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg))) continue;
      const auto* m = static_cast<const inet_diag_msg*>(NLMSG_DATA(h));
      bool to_listener = protocol != IPPROTO_TCP || m->id.idiag_dport == htons(local_port);
      if (!cookie && to_listener && same_source(*m, peer))
        cookie = uint64_t(m->id.idiag_cookie[0]) | (uint64_t(m->id.idiag_cookie[1]) << 32);
    }
  }
  return cookie;
}

}  // namespace

int open_sock_diag() {
  int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) return -1;
  timeval timeout{0, 200 * 1000};  // the kernel answers at once; never let a lookup stall the service
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  return fd;
}

uint64_t peer_socket_cookie(int diag_fd, int protocol, const sockaddr_in6& peer, uint16_t local_port) {
  if (diag_fd < 0) return 0;
  uint8_t family = IN6_IS_ADDR_V4MAPPED(&peer.sin6_addr) ? AF_INET : AF_INET6;
  if (!request_dump(diag_fd, family, static_cast<uint8_t>(protocol))) return 0;
  return read_dump(diag_fd, protocol, peer, local_port);
}

}  // namespace modelvet::sandbox
