#include "sandbox/limits.h"

#include <cstring>
#include <signal.h>
#include <sys/resource.h>

namespace modelvet::sandbox {
namespace {
// Never above the current hard limit: raising it needs CAP_SYS_RESOURCE, which a supervisor in
// a container may lack, and a lower limit is only stricter.
bool set_limit(int resource, uint64_t value) {
  rlimit current{};
  if (getrlimit(resource, &current) == 0 && current.rlim_max != RLIM_INFINITY && current.rlim_max < value)
    value = current.rlim_max;
  rlimit rl{value, value};
  return setrlimit(resource, &rl) == 0;
}
}  // namespace

const char* apply_rlimits(const Limits& l) {
  // The soft CPU limit sends SIGXCPU first; the hard one a second later kills for sure.
  rlimit cpu{l.cpu_seconds, l.cpu_seconds + 1};
  if (!kSanitizerBuild && !set_limit(RLIMIT_AS, l.address_space)) return "RLIMIT_AS";
  if (!set_limit(RLIMIT_CPU, l.cpu_seconds + 1) || setrlimit(RLIMIT_CPU, &cpu) != 0) return "RLIMIT_CPU";
  // A backstop above the pids cgroup limit, which trips first where it exists and is counted.
  if (!set_limit(RLIMIT_NPROC, l.processes + 16)) return "RLIMIT_NPROC";
  if (!set_limit(RLIMIT_NOFILE, l.open_files)) return "RLIMIT_NOFILE";
  if (!set_limit(RLIMIT_FSIZE, l.file_size)) return "RLIMIT_FSIZE";
  if (!set_limit(RLIMIT_CORE, 0)) return "RLIMIT_CORE";
  if (!set_limit(RLIMIT_MEMLOCK, 8ull << 20)) return "RLIMIT_MEMLOCK";
  if (!set_limit(RLIMIT_MSGQUEUE, 1ull << 20)) return "RLIMIT_MSGQUEUE";
  return nullptr;
}

std::string limit_for_signal(int sig) {
  switch (sig) {
    case SIGXCPU: return "cpu";
    case SIGXFSZ: return "fsize";
    default: return "";
  }
}

}  // namespace modelvet::sandbox
