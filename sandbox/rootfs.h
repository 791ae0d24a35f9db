#pragma once
// The jail's view of the filesystem, built inside its fresh mount namespace and entered with
// pivot_root: a read-only system (/usr and its merged-/usr links), a generated /etc, fresh /proc,
// a minimal /dev, a size-capped scratch /tmp, the decoy home, and the model file read-only; and
// the workstation's identity over them (workstation.h): DMI, CPU, GPU, programs on PATH.
#include <string>

#include "sandbox/limits.h"

namespace modelvet::sandbox {

struct RootfsPlan {
  std::string staging;      // host dir prepared by the supervisor: etc/, home/, model/
  std::string model_name;   // file name of the model under staging/model/
  int uid = 0, gid = 0;     // owner of the decoy home inside the jail
  Limits limits;
  int exe_fd = -1;          // the harness binary (O_PATH), staged as workstation.h's kLoaderPath
};

// Where the model appears inside the jail.
std::string jail_model_dir();

// Runs in the jail's first process (root, or the owner of a fresh user namespace) in its fresh
// mount namespace. On failure returns false and fills *error with the failed step.
bool enter_rootfs(const RootfsPlan& plan, std::string* error);

}  // namespace modelvet::sandbox
