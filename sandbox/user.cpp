// The jail user: rootless id maps (written by the bridge) and the switch to it (in pid 1).
#include "sandbox/user.h"

#include <fcntl.h>
#include <grp.h>
#include <unistd.h>

#include <string>

#include <fmt/core.h>

namespace modelvet::sandbox {
namespace {

// One write() each: the kernel accepts a map only as a single write to a fresh open.
bool write_proc(const char* path, const std::string& text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  bool ok = fd >= 0 && write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  if (fd >= 0) close(fd);
  return ok;
}

}  // namespace

const char* map_jail_ids(uid_t jail_uid, gid_t jail_gid, uid_t host_uid, gid_t host_gid) {
  if (!write_proc("/proc/self/setgroups", "deny")) return "setgroups deny";
  if (!write_proc("/proc/self/uid_map", fmt::format("{} {} 1\n", jail_uid, host_uid))) return "uid_map";
  if (!write_proc("/proc/self/gid_map", fmt::format("{} {} 1\n", jail_gid, host_gid))) return "gid_map";
  return nullptr;
}

const char* become_jail_user(uid_t uid, gid_t gid, bool user_namespace) {
  // A user namespace has denied setgroups already (map_jail_ids); its one group is the jail's.
  if (!user_namespace && setgroups(1, &gid) != 0) return "setgroups";
  if (setresgid(gid, gid, gid) != 0) return "setresgid";
  if (setresuid(uid, uid, uid) != 0) return "setresuid";
  return nullptr;
}

}  // namespace modelvet::sandbox
