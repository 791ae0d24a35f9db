#include "sandbox/cgroup.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include <fmt/core.h>

namespace modelvet::sandbox {
namespace {

bool write_file(const std::string& path, const std::string& value) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::write(fd, value.data(), value.size()) == static_cast<ssize_t>(value.size());
  ::close(fd);
  return ok;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The mount point of the first mount with the given fstype and (for v1) controller option.
std::string find_mount(const std::string& fstype, const std::string& option) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream head(line.substr(0, dash)), tail(line.substr(dash + 3));
    std::string id, parent, devno, root, mountpoint, type, source, options;
    head >> id >> parent >> devno >> root >> mountpoint;
    tail >> type >> source >> options;
    if (type != fstype) continue;
    if (!option.empty() && ("," + options + ",").find("," + option + ",") == std::string::npos) continue;
    return mountpoint;
  }
  return "";
}

}  // namespace

std::string find_cgroup2_mount() { return find_mount("cgroup2", ""); }

JailCgroup JailCgroup::create(const std::string& name, std::string* error) {
  JailCgroup cg;
  std::string root = find_cgroup2_mount();
  if (root.empty()) {
    *error = "cgroup2 is not mounted";
    return cg;
  }
  std::string parent = root + "/modelvet";
  if (::mkdir(parent.c_str(), 0755) != 0 && errno != EEXIST) {
    *error = "cannot create " + parent + ": " + strerror(errno);
    return cg;
  }
  std::string path = parent + "/" + name;
  if (::mkdir(path.c_str(), 0755) != 0) {
    *error = "cannot create " + path + ": " + strerror(errno);
    return cg;
  }
  cg.dir_fd_ = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cg.dir_fd_ < 0) {
    *error = "cannot open " + path + ": " + strerror(errno);
    ::rmdir(path.c_str());
    return cg;
  }
  cg.path_ = path;
  return cg;
}

JailCgroup::JailCgroup(JailCgroup&& o) noexcept : path_(std::move(o.path_)), dir_fd_(o.dir_fd_) {
  o.dir_fd_ = -1;
  o.path_.clear();
}

JailCgroup& JailCgroup::operator=(JailCgroup&& o) noexcept {
  if (this != &o) {
    kill_and_remove();
    path_ = std::move(o.path_);
    dir_fd_ = o.dir_fd_;
    o.dir_fd_ = -1;
    o.path_.clear();
  }
  return *this;
}

JailCgroup::~JailCgroup() { kill_and_remove(); }

JailCgroup JailCgroup::for_joining(std::string path) {
  JailCgroup c;
  c.path_ = std::move(path);  // no dir_fd_: valid() is false and the destructor removes nothing
  return c;
}

uint64_t JailCgroup::id() const {
  struct stat st{};
  if (dir_fd_ < 0 || ::fstat(dir_fd_, &st) != 0) return 0;
  return st.st_ino;
}

bool JailCgroup::add_self() const { return write_file(path_ + "/cgroup.procs", "0"); }

bool JailCgroup::populated() const {
  return read_file(path_ + "/cgroup.events").find("populated 1") != std::string::npos;
}

uint64_t JailCgroup::memory_peak_bytes() const {
  return std::strtoull(read_file(path_ + "/memory.peak").c_str(), nullptr, 10);
}

int enter_session_cgroups(const std::string& jail_cgroup, int uid) {
  if (jail_cgroup.empty()) return -1;
  unsigned char r[16];
  if (getrandom(r, sizeof r, 0) != sizeof r) return -1;
  const std::string service = fmt::format("{}/user.slice/user-{}.slice/user@{}.service", jail_cgroup, uid, uid);
  const std::string init_scope = service + "/init.scope";
  const std::string shell_scope = fmt::format(
      "{}/app.slice/app-org.gnome.Terminal.slice/vte-spawn-{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-"
      "{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}.scope",
      service, r[0], r[1], r[2], r[3], r[4], r[5], (r[6] & 0x0f) | 0x40, r[7], (r[8] & 0x3f) | 0x80, r[9], r[10], r[11],
      r[12], r[13], r[14], r[15]);
  std::error_code ec;
  std::filesystem::create_directories(init_scope, ec);
  if (ec) return -1;
  std::filesystem::create_directories(shell_scope, ec);
  if (ec || !write_file(init_scope + "/cgroup.procs", "0")) return -1;
  return ::open((shell_scope + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
}

bool remove_cgroup_tree(const std::string& dir) {
  std::error_code ec;
  std::vector<std::string> below;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec); !ec && it != std::filesystem::recursive_directory_iterator();
       it.increment(ec))
    if (it->is_directory(ec) && !it->is_symlink(ec)) below.push_back(it->path().string());
  // Longest paths first: every child before its parent.
  std::sort(below.begin(), below.end(), [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  for (const auto& d : below) ::rmdir(d.c_str());
  return ::rmdir(dir.c_str()) == 0 || errno == ENOENT;
}

bool JailCgroup::kill_and_remove(int wait_ms) {
  if (dir_fd_ < 0) return true;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  bool empty = false;
  while (true) {
    if (!populated()) {
      empty = true;
      break;
    }
    write_file(path_ + "/cgroup.kill", "1");
    if (std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ::close(dir_fd_);
  dir_fd_ = -1;
  bool removed = remove_cgroup_tree(path_);
  path_.clear();
  return empty && removed;
}

V1Limits V1Limits::create(const std::string& name, uint64_t max_pids, uint64_t max_memory) {
  V1Limits v;
  std::string pids_root = find_mount("cgroup", "pids");
  if (!pids_root.empty() && max_pids > 0) {
    std::string dir = pids_root + "/modelvet-" + name;
    if (::mkdir(dir.c_str(), 0755) == 0) {
      if (write_file(dir + "/pids.max", std::to_string(max_pids)))
        v.pids_dir_ = dir;
      else
        ::rmdir(dir.c_str());
    }
  }
  std::string mem_root = find_mount("cgroup", "memory");
  if (!mem_root.empty() && max_memory > 0) {
    std::string dir = mem_root + "/modelvet-" + name;
    if (::mkdir(dir.c_str(), 0755) == 0) {
      if (write_file(dir + "/memory.limit_in_bytes", std::to_string(max_memory)))
        v.memory_dir_ = dir;
      else
        ::rmdir(dir.c_str());
    }
  }
  return v;
}

V1Limits::V1Limits(V1Limits&& o) noexcept
    : pids_dir_(std::move(o.pids_dir_)), memory_dir_(std::move(o.memory_dir_)) {
  o.pids_dir_.clear();
  o.memory_dir_.clear();
}

V1Limits& V1Limits::operator=(V1Limits&& o) noexcept {
  if (this != &o) {
    remove();
    pids_dir_ = std::move(o.pids_dir_);
    memory_dir_ = std::move(o.memory_dir_);
    o.pids_dir_.clear();
    o.memory_dir_.clear();
  }
  return *this;
}

V1Limits::~V1Limits() { remove(); }

V1Limits V1Limits::for_joining(std::string pids_dir, std::string memory_dir) {
  V1Limits v;
  v.pids_dir_ = std::move(pids_dir);
  v.memory_dir_ = std::move(memory_dir);
  return v;
}

void V1Limits::remove() {
  // The jail's processes are gone by now (cgroup v2 kill); a few retries cover the reaping lag.
  for (std::string* dir : {&pids_dir_, &memory_dir_}) {
    if (dir->empty()) continue;
    for (int i = 0; i < 200 && ::rmdir(dir->c_str()) != 0 && errno == EBUSY; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    dir->clear();
  }
}

bool V1Limits::add_self() const {
  bool ok = true;
  if (!pids_dir_.empty()) ok &= write_file(pids_dir_ + "/cgroup.procs", "0");
  if (!memory_dir_.empty()) ok &= write_file(memory_dir_ + "/cgroup.procs", "0");
  return ok;
}

bool V1Limits::memory_limit_hit() const {
  if (memory_dir_.empty()) return false;
  return std::atoll(read_file(memory_dir_ + "/memory.failcnt").c_str()) > 0;
}

uint64_t V1Limits::memory_peak_bytes() const {
  if (memory_dir_.empty()) return 0;
  return std::strtoull(read_file(memory_dir_ + "/memory.max_usage_in_bytes").c_str(), nullptr, 10);
}

bool V1Limits::pids_limit_hit() const {
  if (pids_dir_.empty()) return false;
  std::string events = read_file(pids_dir_ + "/pids.events");
  auto pos = events.find("max ");
  return pos != std::string::npos && std::atoll(events.c_str() + pos + 4) > 0;
}

std::string V1Limits::describe() const {
  std::string s;
  if (!pids_dir_.empty()) s += "pids";
  if (!memory_dir_.empty()) s += s.empty() ? "memory" : ",memory";
  return s;
}

std::vector<std::string> jail_cgroup_dirs(const std::string& name) {
  std::vector<std::string> dirs;
  std::string v2 = find_cgroup2_mount();
  if (!v2.empty()) dirs.push_back(v2 + "/modelvet/" + name);
  for (const char* controller : {"pids", "memory"}) {
    std::string root = find_mount("cgroup", controller);
    if (!root.empty()) dirs.push_back(root + "/modelvet-" + name);
  }
  return dirs;
}

bool remove_jail_cgroups(const std::string& name, int wait_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  bool all_gone = true;
  for (const std::string& dir : jail_cgroup_dirs(name)) {
    struct stat st{};
    if (::stat(dir.c_str(), &st) != 0) continue;
    while (true) {
      bool v2 = ::access((dir + "/cgroup.kill").c_str(), F_OK) == 0;
      if (v2) write_file(dir + "/cgroup.kill", "1");
      std::istringstream procs(read_file(dir + "/cgroup.procs"));
      bool any = false;
      for (pid_t pid; procs >> pid;) {
        any = true;
        if (!v2) ::kill(pid, SIGKILL);
      }
      if (v2) any = read_file(dir + "/cgroup.events").find("populated 1") != std::string::npos;
      if (!any && (v2 ? remove_cgroup_tree(dir) : (::rmdir(dir.c_str()) == 0 || errno == ENOENT))) break;
      if (std::chrono::steady_clock::now() > deadline) {
        all_gone = false;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  return all_gone;
}

}  // namespace modelvet::sandbox
