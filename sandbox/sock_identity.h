#pragma once
// Which of the jail's sockets a fake-network session came from. The tracer records the sending
// socket's cookie with the destination it asked for; the fake network knows only the peer address
// it accepted or received from. sock_diag, asked inside the jail's network namespace, names the
// socket bound to that address and its cookie: the session is attributed to the socket itself,
// not to the n-th connect.
#include <netinet/in.h>

#include <cstdint>

namespace modelvet::sandbox {

// A NETLINK_SOCK_DIAG socket in the calling process's network namespace (it keeps answering for
// that namespace wherever the descriptor goes). -1 on failure.
int open_sock_diag();

// The cookie of the jail's socket whose local address is `peer` (for TCP, connected to
// `local_port`, the fake network's listener); 0 when no such socket exists any more.
uint64_t peer_socket_cookie(int diag_fd, int protocol, const sockaddr_in6& peer, uint16_t local_port);

}  // namespace modelvet::sandbox
