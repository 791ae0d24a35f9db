#pragma once
// Resource limits of one jail. rlimits always; cgroup limits where the host offers them.
#include <cstdint>
#include <string>

namespace modelvet::sandbox {

struct Limits {
  uint64_t address_space = 8ull << 30;   // RLIMIT_AS: importing torch maps ~3 GiB of address space
  uint64_t memory = 3ull << 30;          // cgroup memory limit (resident), where available
  uint64_t cpu_seconds = 60;             // RLIMIT_CPU
  uint64_t processes = 64;               // pids.max (v1 pids cgroup); RLIMIT_NPROC = this + 16 per jail uid
  uint64_t open_files = 1024;            // RLIMIT_NOFILE: a desktop session's soft limit
  uint64_t file_size = 256ull << 20;     // RLIMIT_FSIZE
  uint64_t scratch_bytes = 256ull << 20; // tmpfs size of /tmp
  uint64_t home_bytes = 64ull << 20;     // tmpfs size of the decoy home
};

// A sanitizer build (-DMODELVET_SANITIZE=ON, scripts/sanitize.sh; or the fuzz tree) cannot live
// under RLIMIT_AS: the harness is this binary exec'd in the jail, and ASan reserves terabytes of
// shadow address space as it starts. There no address-space limit is set and the cgroup memory
// limit is the only memory bound (rootless jails have none); reports and doctor say so.
#ifdef MODELVET_SANITIZER_BUILD
inline constexpr bool kSanitizerBuild = true;
#else
inline constexpr bool kSanitizerBuild = false;
#endif

// Applies the rlimits to the calling process. Async-signal-safe. Returns the name of the
// limit that could not be set, or nullptr when all were.
const char* apply_rlimits(const Limits& limits);

// Names the limit that a death by this signal means ("cpu" for SIGXCPU, "fsize" for SIGXFSZ), or "".
std::string limit_for_signal(int sig);

}  // namespace modelvet::sandbox
