// The supervisor's channels to a jail, and the status pipe's line protocol ("pid N", "ready", "error ...").
#include "sandbox/channels.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

namespace modelvet::sandbox {

bool Pipe::open(int flags) {
  int fds[2];
  if (pipe2(fds, flags) != 0) return false;
  r = fds[0], w = fds[1];
  return true;
}

// SEQPACKET: a descriptor-carrying message arrives whole or not at all.
bool Pipe::open_socket_pair() {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) return false;
  r = fds[0], w = fds[1];
  return true;
}

void Pipe::close_r() { if (r >= 0) ::close(r), r = -1; }
void Pipe::close_w() { if (w >= 0) ::close(w), w = -1; }

std::optional<std::string> read_status_line(int fd, std::string& buffer, int timeout_ms) {
  using Clock = std::chrono::steady_clock;
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    auto nl = buffer.find('\n');
    if (nl != std::string::npos) {
      std::string line = buffer.substr(0, nl);
      buffer.erase(0, nl + 1);
      return line;
    }
    int left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return std::nullopt;
    pollfd pfd{fd, POLLIN, 0};
    if (poll(&pfd, 1, left) <= 0) continue;
    char buf[512];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) return std::nullopt;  // EOF
    buffer.append(buf, n);
  }
}

}  // namespace modelvet::sandbox
