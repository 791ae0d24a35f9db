#include "harness/event_sink.h"
#include "harness/time_warp.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <string>

namespace modelvet::harness {
namespace {

std::atomic<int> g_fd{-1};
dev_t g_dev = 0;
ino_t g_ino = 0;

// The pipe is still ours if the descriptor still names the same inode.
bool still_our_pipe(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 && st.st_dev == g_dev && st.st_ino == g_ino;
}

// Strings are bounded where they are made; this is the last guard keeping a line <= PIPE_BUF.
void shrink_strings(nlohmann::json& j, size_t limit) {
  if (j.is_string()) {
    auto& s = j.get_ref<std::string&>();
    if (s.size() > limit) s = s.substr(0, limit) + "…";
  } else if (j.is_structured()) {
    for (auto& v : j) shrink_strings(v, limit);
  }
}

std::string dump_line(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace

uint64_t monotonic_ns() { return uint64_t(real_clock_ns(CLOCK_MONOTONIC)); }  // the real clock, not the sample's warped one

void sink_open(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0) return;
  g_dev = st.st_dev;
  g_ino = st.st_ino;
  // Lowest free descriptors are reused first, so a high one survives a payload's open/close
  // churn. RLIMIT_NOFILE may be small in the jail: try lower floors until one fits.
  for (int floor : {1000, 500, 200, 100, 50, 20}) {
    int moved = fcntl(fd, F_DUPFD_CLOEXEC, floor);
    if (moved >= 0) {
      close(fd);
      g_fd = moved;
      return;
    }
  }
  fcntl(fd, F_SETFD, FD_CLOEXEC);
  g_fd = fd;
}

void emit(std::string_view kind, nlohmann::json fields) {
  int fd = g_fd.load();
  if (fd < 0) return;
  try {
    if (!fields.is_object()) fields = nlohmann::json::object();
    fields["t_ns"] = monotonic_ns();
    fields["source"] = "python";
    fields["kind"] = std::string(kind);
    fields["pid"] = int(getpid());
    std::string line = dump_line(fields);
    for (size_t limit : {512, 128, 32}) {
      if (line.size() <= PIPE_BUF) break;
      shrink_strings(fields, limit);
      line = dump_line(fields);
    }
    if (!still_our_pipe(fd)) {
      g_fd = -1;
      return;
    }
    size_t off = 0;
    while (off < line.size()) {
      ssize_t n = write(fd, line.data() + off, line.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        g_fd = -1;  // EPIPE/EBADF: the supervisor is gone or the payload closed us; stop
        return;
      }
      off += size_t(n);
    }
  } catch (...) {
    // An event that cannot be encoded is dropped; the harness goes on.
  }
}

}  // namespace modelvet::harness
