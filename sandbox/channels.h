#pragma once
// The supervisor's channels to a jail: pipes and socket pairs, and the status pipe's line protocol.
#include <string>
#include <optional>

#include <fcntl.h>

namespace modelvet::sandbox {

// A pipe, or a unix socket pair where descriptors must cross (SCM_RIGHTS): the supervisor
// keeps r, the jail side gets w; whatever is still open closes with it.
struct Pipe {
  int r = -1, w = -1;
  Pipe() = default;
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  ~Pipe() { close_r(), close_w(); }
  bool open(int flags = O_CLOEXEC);
  bool open_socket_pair();
  void close_r();
  void close_w();
};

// Reads the status pipe until a full line arrives (returned without its newline; what follows
// stays in *buffer), or nullopt at EOF or after timeout_ms.
std::optional<std::string> read_status_line(int fd, std::string& buffer, int timeout_ms);

}  // namespace modelvet::sandbox
