#include "sandbox/proc_stat.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace modelvet::sandbox {

std::optional<ProcStat> read_proc_stat(const std::string& path) {
  int fd = static_cast<int>(syscall(SYS_openat, AT_FDCWD, path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd < 0) return std::nullopt;
  char buf[1024];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return std::nullopt;
  buf[n] = '\0';
  // comm may hold any byte, ')' and spaces included: the fields are counted after the last ')'.
  const char* close_paren = std::strrchr(buf, ')');
  if (!close_paren || close_paren[1] != ' ' || close_paren[2] == '\0') return std::nullopt;
  ProcStat st;
  st.state = close_paren[2];
  const char* p = close_paren + 2;  // field 3
  for (int field = 3; field < 22; ++field) {
    p = std::strchr(p, ' ');
    if (!p) return std::nullopt;
    ++p;
  }
  st.start_ticks = std::strtoull(p, nullptr, 10);
  return st;
}

}  // namespace modelvet::sandbox
