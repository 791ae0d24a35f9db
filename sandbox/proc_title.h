#pragma once
// What /proc/<pid>/{comm,cmdline,environ} say about a jail process: a workstation's program, never
// the tool. PR_SET_MM_MAP (allowed without privilege: it changes only what the process already
// owns) points the kernel's argv and environ areas at a fresh anonymous page; PR_SET_NAME sets comm.
#include <string>
#include <vector>

namespace modelvet::sandbox {

// Replaces this process's comm (cut to 15 bytes by the kernel), command line and environment as
// /proc shows them. The process's own argv/environ memory (what libc and Python read) is left
// alone. False when the kernel refused (no CONFIG_CHECKPOINT_RESTORE): comm is still set.
bool set_process_title(const std::string& comm, const std::vector<std::string>& argv,
                       const std::vector<std::string>& env);

// The harness, before its interpreter starts: shows as the data scientist's `python3 <script>
// <model>` started from a shell, with the environment it was given (read from `environ`).
bool disguise_as_loader(const std::string& model_path);

}  // namespace modelvet::sandbox
