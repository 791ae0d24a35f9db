#pragma once
// This binary started again as one of its own helpers: a jail's bridge, its reaper, a ptrace
// tracer's helper. A threaded supervisor must not fork one and keep running its code in the
// child: fork copies every lock (an allocator's, stdio's) in whatever state another thread left
// it, and gcc's ASan allocator has no fork handler at all. The helper is a fresh exec instead.
//
// A module that has a helper declares it with a HelperMode at namespace scope (in the file that
// spawns it, so the declaration is linked wherever the spawn is); every main() calls
// run_helper_mode first, so any binary that can spawn a helper can also become it.
#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace modelvet::process {

// A helper's main: argv[1] is its mode, argv[2..] its arguments; returns the exit code.
using HelperMain = int (*)(int argc, char** argv);

struct HelperMode {
  HelperMode(const char* name, HelperMain main);  // registers the mode (static initialisation)
};

// The exit code of the helper argv[1] names, or nullopt when it names none.
std::optional<int> run_helper_mode(int argc, char** argv);

struct HelperSpawn {
  std::string argv0 = "modelvet";  // what ps shows
  const char* mode = nullptr;
  std::vector<std::string> args;
  std::vector<int> fds;      // fds[i] becomes descriptor 3 + i; nothing else stays open past stdio
  bool null_stdio = false;   // 0-2 on /dev/null: a helper that may outlive the reader of our output
};

// posix_spawn of /proc/self/exe as `argv0 mode args...`, with an empty signal mask and SIGPIPE
// and SIGCHLD at their defaults (a worker thread's mask or an ignored SIGCHLD is not the
// helper's) and this process's environment. Returns its pid, or -1 with *error set (the exec
// failing included: glibc's posix_spawn reports it).
pid_t spawn_helper(const HelperSpawn& spawn, std::string* error);

}  // namespace modelvet::process
