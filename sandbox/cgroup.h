#pragma once
// One cgroup-v2 directory per jail: the tracer's scope (children inherit it, so forks are
// followed), the cgroup sock_addr hooks' attach point, and the whole-tree kill switch.
#include <cstdint>
#include <string>
#include <vector>

namespace modelvet::sandbox {

// Where cgroup2 is mounted (from /proc/self/mountinfo), or "" when it is not.
std::string find_cgroup2_mount();

class JailCgroup {
 public:
  // Creates <cgroup2>/modelvet/<name>. Empty path on failure (*error says why).
  static JailCgroup create(const std::string& name, std::string* error);
  // Another process's handle on a cgroup made by create(): only add_self() works (a zygote's
  // bridge joins the jail's cgroup by path); it removes nothing when destroyed.
  static JailCgroup for_joining(std::string path);
  JailCgroup() = default;
  JailCgroup(JailCgroup&&) noexcept;
  JailCgroup& operator=(JailCgroup&&) noexcept;
  ~JailCgroup();

  bool valid() const { return dir_fd_ >= 0; }
  const std::string& path() const { return path_; }
  int dir_fd() const { return dir_fd_; }
  uint64_t id() const;                 // the cgroup id BPF sees (inode of the directory)
  bool add_self() const;               // moves the calling process in (used between fork and exec)
  bool populated() const;              // any process still inside?
  uint64_t memory_peak_bytes() const;  // memory.peak, 0 where the memory controller is not enabled
  // SIGKILLs every process inside (cgroup.kill), waits up to wait_ms for it to empty,
  // then removes the directory. True when nothing was left behind.
  bool kill_and_remove(int wait_ms = 2000);

 private:
  std::string path_;
  int dir_fd_ = -1;
};

// The jail's cgroup as a desktop session's, seen from inside its cgroup namespace (rooted at the
// jail's cgroup): pid 1 (`systemd --user`) in user.slice/user-<uid>.slice/user@<uid>.service/
// init.scope, the loader's terminal in …/app.slice/app-org.gnome.Terminal.slice/vte-spawn-<uuid>
// .scope. Called by pid 1 while it is still root and sees the host's cgroup2 mount: makes both,
// moves itself into init.scope, and returns the terminal scope's cgroup.procs opened for writing
// (-1 on any failure: the jail then stays in its own cgroup, as before). The kernel checks a
// migration against the opener's credentials, so the shell, with no privilege left, can still
// move itself in by writing "0" to it.
int enter_session_cgroups(const std::string& jail_cgroup, int uid);
// Removes a cgroup directory and every cgroup below it, deepest first (each must be empty).
bool remove_cgroup_tree(const std::string& dir);

// Every cgroup a jail named `name` (its staging dir's name) may have: the v2 one, then the v1
// pids and memory ones. What they hold is SIGKILLed (cgroup.kill; v1: each pid in cgroup.procs)
// for up to wait_ms until they are empty, then they are removed. For the stale-staging sweep and
// the bridge's reaper, which clean up after a supervisor that died. True when none is left.
bool remove_jail_cgroups(const std::string& name, int wait_ms);
std::vector<std::string> jail_cgroup_dirs(const std::string& name);

// v1 controllers (pids, memory) where this host mounts them beside cgroup2; optional limits.
class V1Limits {
 public:
  static V1Limits create(const std::string& name, uint64_t max_pids, uint64_t max_memory);
  // As JailCgroup::for_joining. Destroying it would remove the dirs: the bridge only _exits.
  static V1Limits for_joining(std::string pids_dir, std::string memory_dir);
  V1Limits() = default;
  V1Limits(V1Limits&&) noexcept;
  V1Limits& operator=(V1Limits&&) noexcept;
  ~V1Limits();
  bool add_self() const;
  bool memory_limit_hit() const;       // memory.failcnt > 0
  uint64_t memory_peak_bytes() const;  // memory.max_usage_in_bytes (0: no memory controller)
  bool pids_limit_hit() const;         // pids.events max > 0
  std::string describe() const;        // "pids,memory" or ""
  const std::string& pids_dir() const { return pids_dir_; }
  const std::string& memory_dir() const { return memory_dir_; }

 private:
  void remove();
  std::string pids_dir_, memory_dir_;
};

}  // namespace modelvet::sandbox
