#include "tracer/cgroup_info.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace modelvet::tracer {

std::string find_cgroup2_mount() {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    // "<id> <parent> <maj:min> <root> <mount point> <options> [optional...] - <fstype> ..."
    auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream fs(line.substr(dash + 3));
    std::string fstype;
    fs >> fstype;
    if (fstype != "cgroup2") continue;
    std::istringstream head(line.substr(0, dash));
    std::string id, parent, dev, root, mount_point;
    head >> id >> parent >> dev >> root >> mount_point;
    return mount_point;
  }
  return "";
}

uint64_t cgroup_id_of(int cgroup_dir_fd, std::string* error) {
  // The cgroup id is the kernfs node id, which is what a file handle of the directory carries.
  struct {
    file_handle handle;
    uint64_t id;
  } fh{};
  fh.handle.handle_bytes = sizeof(uint64_t);
  int mount_id = 0;
  if (name_to_handle_at(cgroup_dir_fd, "", &fh.handle, &mount_id, AT_EMPTY_PATH) != 0) {
    if (error) *error = fmt::format("cgroup id: name_to_handle_at: {}", strerror(errno));
    return 0;
  }
  uint64_t id = 0;
  memcpy(&id, fh.handle.f_handle, sizeof(id));
  return id;
}

int cgroup_level_of(int cgroup_dir_fd) {
  std::string mount = find_cgroup2_mount();
  char path[4096];
  ssize_t n = readlink(fmt::format("/proc/self/fd/{}", cgroup_dir_fd).c_str(), path, sizeof(path) - 1);
  if (mount.empty() || n <= 0) return -1;
  std::string p(path, static_cast<size_t>(n));
  if (p.rfind(mount, 0) != 0) return -1;
  int level = 0;
  bool in_component = false;
  for (char c : p.substr(mount.size())) {
    if (c == '/') {
      in_component = false;
    } else if (!in_component) {
      in_component = true;
      ++level;
    }
  }
  return level;
}

}  // namespace modelvet::tracer
