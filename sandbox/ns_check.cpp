// Host-side checks of a jail's namespaces, by inode: no setns, so they work rootless too.
#include "sandbox/ns_check.h"

#include <poll.h>
#include <sys/stat.h>

#include <cctype>
#include <filesystem>

namespace modelvet::sandbox {
namespace fs = std::filesystem;

uint64_t inode_of(const std::string& path) {
  struct stat st{};
  return stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

bool pid_namespace_empty(uint64_t inode) {
  if (inode == 0) return false;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    struct stat st{};
    if (stat((entry.path() / "ns/pid").c_str(), &st) == 0 && st.st_ino == inode) return false;
  }
  // A /proc that could not be read to the end proves nothing: not empty.
  return !ec;
}

bool namespace_init_exited(int init_pidfd, int timeout_ms) {
  if (init_pidfd < 0) return false;
  pollfd exited{init_pidfd, POLLIN, 0};
  return poll(&exited, 1, timeout_ms) == 1 && (exited.revents & POLLIN);
}

}  // namespace modelvet::sandbox
