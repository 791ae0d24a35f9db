// The host directory a jail is built from: filled before the fork, removed at teardown.
#include "sandbox/staging.h"

#include <cstdlib>
#include <cstring>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <unistd.h>

#include <fmt/core.h>

#include "sandbox/cgroup.h"
#include "sandbox/etc_files.h"
#include "sandbox/proc_stat.h"
#include "sandbox/workstation.h"

namespace modelvet::sandbox {
namespace fs = std::filesystem;
namespace {

// A single file that every user may read and that lives on staging's filesystem is hard-linked,
// not copied: a 10 GB checkpoint is staged at once, with no second 10 GB on disk nor in the page
// cache. The jail still sees only the staging path (mountinfo names the bind's source, the link
// under /tmp/tmp.*, never the host's path) through a read-only, nosuid, nodev bind (rootfs.cpp),
// so nothing the sample does can write, truncate or chmod the shared inode; its mode is left as
// it is (the original's). The link follows a symlink (a Hub cache's snapshot entry) to its blob.
// What a copy gave that a link does not: a host process writing the original during the run
// changes what the jail reads (the verdict is of the file as it is read), and the link count shows.
bool link_model(const std::string& model_path, const fs::path& link) {
  struct stat st {};
  if (::stat(model_path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || !(st.st_mode & S_IROTH)) return false;
  return ::linkat(AT_FDCWD, model_path.c_str(), AT_FDCWD, link.c_str(), AT_SYMLINK_FOLLOW) == 0;
}

// Otherwise a private copy: the jail user can read it whatever the host file's mode, and
// nothing the sample does can reach the original.
void copy_model(const std::string& model_path, const fs::path& stage) {
  fs::create_directories(stage / "model");
  fs::path copy = stage / "model" / fs::path(model_path).filename();
  if (link_model(model_path, copy)) return;
  if (fs::is_directory(model_path)) {
    fs::copy(model_path, copy, fs::copy_options::recursive);
    for (auto& entry : fs::recursive_directory_iterator(copy))
      fs::permissions(entry.path(), entry.is_directory() ? fs::perms(0555) : fs::perms(0444));
    fs::permissions(copy, fs::perms(0555));
  } else {
    fs::copy_file(model_path, copy);
    fs::permissions(copy, fs::perms(0444));
  }
}

unsigned long long starttime_of(pid_t pid) {
  auto st = read_proc_stat(fmt::format("/proc/{}/stat", pid));  // a process that exits meanwhile: 0
  return st ? st->start_ticks : 0;
}

}  // namespace

bool process_alive(pid_t pid, unsigned long long starttime) {
  return pid > 0 && starttime != 0 && starttime_of(pid) == starttime;
}

bool staging_owner(const std::string& dir, pid_t* pid, unsigned long long* starttime) {
  std::string name = fs::path(dir).filename().string();
  if (name.rfind(kStagingPrefix, 0) != 0) return false;
  unsigned long p = 0;
  unsigned long long t = 0;
  int used = 0;
  if (std::sscanf(name.c_str() + strlen(kStagingPrefix), "%lu.%llu-%n", &p, &t, &used) != 2 || used == 0) return false;
  *pid = pid_t(p);
  *starttime = t;
  return p > 0 && t > 0;
}

namespace {

bool remove_one_tree(const std::string& dir) {
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (ec && fs::exists(dir, ec)) {
    // Read-only dirs (a SavedModel copy) block unlinking inside them for a non-root owner.
    for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
      if (it->is_directory(ec) && !it->is_symlink(ec)) fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
    fs::permissions(dir, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(dir, ec);
  }
  return !fs::exists(fs::symlink_status(dir, ec));
}

std::string model_twin_of(const std::string& dir) {
  fs::path p(dir);
  if (p.parent_path() == kModelStagingRoot) return "";
  return (fs::path(kModelStagingRoot) / p.filename()).string();
}

// The first root of kStagingRoots that is a tmpfs the caller can write, else /tmp.
const char* staging_root() {
  for (const char* root : kStagingRoots) {
    struct statfs st {};
    if (::statfs(root, &st) == 0 && st.f_type == TMPFS_MAGIC && ::access(root, W_OK | X_OK) == 0) return root;
  }
  return kModelStagingRoot;
}

}  // namespace

bool remove_staging_tree(const std::string& dir) {
  bool gone = remove_one_tree(dir);
  if (std::string twin = model_twin_of(dir); !twin.empty()) gone = remove_one_tree(twin) && gone;
  return gone;
}

int sweep_stale_staging() {
  int removed = 0;
  for (const char* root : kStagingRoots) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(root, ec)) {
      pid_t pid = 0;
      unsigned long long start = 0;
      std::string dir = entry.path().string();
      if (!staging_owner(dir, &pid, &start) || process_alive(pid, start)) continue;
      std::error_code lec;
      if (!entry.is_directory(lec) || entry.is_symlink(lec)) continue;
      remove_jail_cgroups(entry.path().filename().string(), 500);
      if (remove_staging_tree(dir)) ++removed;
    }
  }
  return removed;
}

bool Staging::create(std::string* error) {
  static std::once_flag swept;
  std::call_once(swept, [] { sweep_stale_staging(); });
  const std::string root = staging_root();
  for (int attempt = 0; attempt < 16; ++attempt) {
    std::string tmpl = fmt::format("{}/{}{}.{}-XXXXXX", root, kStagingPrefix, getpid(), starttime_of(getpid()));
    if (!mkdtemp(tmpl.data())) {
      *error = fmt::format("mkdtemp: {}", strerror(errno));
      return false;
    }
    std::string twin = model_twin_of(tmpl);
    if (twin.empty()) {
      dir_ = tmpl;
      return true;
    }
    if (::mkdir(twin.c_str(), 0700) == 0) {
      if (::symlink(twin.c_str(), (fs::path(tmpl) / "model").c_str()) != 0) {
        *error = fmt::format("staging model link: {}", strerror(errno));
        ::rmdir(twin.c_str()), ::rmdir(tmpl.c_str());
        return false;
      }
      dir_ = tmpl;
      return true;
    }
    int err = errno;
    ::rmdir(tmpl.c_str());
    if (err != EEXIST) {
      *error = fmt::format("mkdir {}: {}", twin, strerror(err));
      return false;
    }
  }
  *error = "staging: no free name";
  return false;
}

bool Staging::remove() {
  if (dir_.empty()) return true;
  bool ok = remove_staging_tree(dir_);
  dir_.clear();
  return ok;
}

bool fill_staging(const Staging& staging, const std::string& model_path, int uid, Decoys* decoys,
                  std::string* error, const std::vector<std::string>& siblings) {
  const fs::path stage = staging.dir();
  try {
    write_etc((stage / "etc").string(), uid);
    write_machine_identity(stage.string());
    copy_model(model_path, stage);
    for (const auto& sibling : siblings)
      if (fs::path(sibling).filename() != fs::path(model_path).filename()) copy_model(sibling, stage);
  } catch (const std::exception& e) {
    *error = fmt::format("staging: {}", e.what());
    return false;
  }
  return write_decoy_home((stage / "home").string(), decoys, error);
}

}  // namespace modelvet::sandbox
