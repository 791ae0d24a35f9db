#pragma once
// The host directory a jail is built from (etc/, model/, home/), removed and checked at teardown.
#include <sys/types.h>

#include <string>
#include <vector>

#include "sandbox/decoys.h"

namespace modelvet::sandbox {

// Staging dirs are <root>/<prefix><pid>.<starttime>-XXXXXX. The jail's mount table shows the
// dirs bound into it, so the name says nothing of the tool: it reads like mktemp's.
inline constexpr const char* kStagingPrefix = "tmp.";
// The root is a tmpfs where the host has one (/dev/shm): the /etc, decoy home and identity files a
// jail is built from are a few hundred small files written and removed per file, and on a disk
// filesystem their inode allocation (ext4's scan for recently deleted inodes) was a quarter of a
// batch's CPU. The model is hard-linked, which needs the model's filesystem: <stage>/model is a
// symlink into a twin dir of the same name under /tmp (kModelStagingRoot).
inline constexpr const char* kStagingRoots[] = {"/dev/shm", "/tmp"};
inline constexpr const char* kModelStagingRoot = "/tmp";

class Staging {
 public:
  Staging() = default;
  Staging(const Staging&) = delete;
  Staging& operator=(const Staging&) = delete;
  ~Staging() { remove(); }

  // A fresh <root>/tmp.<pid>.<starttime>-XXXXXX (and its /tmp twin): the owner's pid and start time (clock
  // ticks since boot, /proc/<pid>/stat field 22) say whose it is, so a dir whose owner is dead
  // can be told from one in use. The first create in a process sweeps stale ones first.
  bool create(std::string* error);
  const std::string& dir() const { return dir_; }
  bool remove();                    // true when the directory is gone (or never was)

 private:
  std::string dir_;
};

// The owner a staging dir's name records; false for a name of another shape.
bool staging_owner(const std::string& dir, pid_t* pid, unsigned long long* starttime);
// True while the process `pid` exists and started at `starttime` (not a reused pid).
bool process_alive(pid_t pid, unsigned long long starttime);
// Removes every <root>/tmp.<pid>.<starttime>-* whose owner is dead, with the jail cgroups
// of the same name (killing what they still hold). Returns how many were removed.
int sweep_stale_staging();
// Removes a staging tree whatever the modes inside (the model copy is read-only), and its /tmp
// twin where it has one.
bool remove_staging_tree(const std::string& dir);

// Fills a created staging dir for the jail user `uid`: the generated /etc, a private read-only
// copy of the model (a directory is copied whole) and the decoy home, whose secrets go to
// *decoys. False with *error naming the step ("staging: ...", or the decoys' own error).
// `siblings` (host paths) are copied read-only beside the model, under their own names.
bool fill_staging(const Staging& staging, const std::string& model_path, int uid, Decoys* decoys,
                  std::string* error, const std::vector<std::string>& siblings = {});

}  // namespace modelvet::sandbox
