#include "sandbox/pid_lookup.h"

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace modelvet::sandbox {

pid_t host_pid_of(uint64_t pidns_inode, pid_t ns_pid) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    struct stat ns{};
    if (stat((entry.path() / "ns/pid").c_str(), &ns) != 0 || ns.st_ino != pidns_inode) continue;
    std::ifstream status(entry.path() / "status");
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("NSpid:", 0) != 0) continue;
      std::istringstream fields(line.substr(6));
      long last = 0, v;
      while (fields >> v) last = v;  // the innermost namespace's number comes last
      if (last == ns_pid) return static_cast<pid_t>(std::atol(name.c_str()));
      break;
    }
  }
  return 0;
}

}  // namespace modelvet::sandbox
