#include "sandbox/fd_passing.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <vector>

namespace modelvet::sandbox {
namespace {
constexpr size_t kMaxFds = 8;
}  // namespace

bool send_fds(int socket_fd, const std::vector<int>& fds, const std::string& text) {
  if (fds.size() > kMaxFds || text.empty()) return false;  // the receiver's max_text bounds the text
  alignas(cmsghdr) char control[CMSG_SPACE(kMaxFds * sizeof(int))] = {};
  iovec iov{const_cast<char*>(text.data()), text.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (!fds.empty()) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(fds.size() * sizeof(int));
    cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(fds.size() * sizeof(int));
    memcpy(CMSG_DATA(cmsg), fds.data(), fds.size() * sizeof(int));
  }
  return sendmsg(socket_fd, &msg, MSG_NOSIGNAL) == static_cast<ssize_t>(iov.iov_len);
}

bool receive_fds(int socket_fd, size_t max_fds, int timeout_ms, std::vector<int>* fds, std::string* text,
                 size_t max_text) {
  pollfd pfd{socket_fd, POLLIN, 0};
  if (poll(&pfd, 1, timeout_ms) <= 0) return false;
  std::vector<char> buf(max_text);
  alignas(cmsghdr) char control[CMSG_SPACE(kMaxFds * sizeof(int))] = {};
  iovec iov{buf.data(), buf.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n = recvmsg(socket_fd, &msg, MSG_CMSG_CLOEXEC);
  if (n <= 0) return false;
  text->assign(buf.data(), n);
  fds->clear();
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      fds->push_back(fd);
    }
  }
  bool ok = !(msg.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) && fds->size() <= max_fds;
  if (!ok) {
    for (int fd : *fds) close(fd);
    fds->clear();
  }
  return ok;
}

}  // namespace modelvet::sandbox
