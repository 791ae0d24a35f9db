#include "process/helper_mode.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>

extern char** environ;

namespace modelvet::process {
namespace {

constexpr int kFirstHelperFd = 3;

// Function-local: registrations run during static initialisation, in no set order.
std::map<std::string, HelperMain>& modes() {
  static std::map<std::string, HelperMain> registered;
  return registered;
}

// Owns the descriptors lifted above the helper's numbers until the spawn is done.
struct Lifted {
  std::vector<int> fds;
  ~Lifted() {
    for (int fd : fds) close(fd);
  }
};

}  // namespace

HelperMode::HelperMode(const char* name, HelperMain main) { modes()[name] = main; }

std::optional<int> run_helper_mode(int argc, char** argv) {
  if (argc < 2) return std::nullopt;
  auto it = modes().find(argv[1]);
  if (it == modes().end()) return std::nullopt;
  return it->second(argc, argv);
}

pid_t spawn_helper(const HelperSpawn& spawn, std::string* error) {
  // Lifted first: a dup2 onto 3 + i must never overwrite a descriptor still to be placed, and a
  // descriptor already at 3 + i would keep its close-on-exec flag through a dup2 onto itself.
  Lifted lifted;
  for (int fd : spawn.fds) {
    int high = fcntl(fd, F_DUPFD_CLOEXEC, 100);
    if (high < 0) {
      *error = std::string("dup: ") + strerror(errno);
      return -1;
    }
    lifted.fds.push_back(high);
  }
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  if (spawn.null_stdio)
    for (int fd = 0; fd < kFirstHelperFd; ++fd) posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", O_RDWR, 0);
  for (size_t i = 0; i < lifted.fds.size(); ++i)
    posix_spawn_file_actions_adddup2(&actions, lifted.fds[i], kFirstHelperFd + int(i));
  posix_spawn_file_actions_addclosefrom_np(&actions, kFirstHelperFd + int(lifted.fds.size()));
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigaddset(&defaults, SIGCHLD);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<std::string> strings = {spawn.argv0, spawn.mode};
  strings.insert(strings.end(), spawn.args.begin(), spawn.args.end());
  std::vector<char*> argv;
  for (auto& s : strings) argv.push_back(s.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, "/proc/self/exe", &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    *error = std::string("spawn ") + spawn.mode + ": " + strerror(rc);
    return -1;
  }
  return pid;
}

}  // namespace modelvet::process
