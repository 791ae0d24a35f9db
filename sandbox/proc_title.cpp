// Process titles of the jail's processes (see proc_title.h).
#include "sandbox/proc_title.h"

#include <linux/prctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "sandbox/decoys.h"

extern char** environ;

namespace modelvet::sandbox {
namespace {

// /proc/self/stat fields 1..52 (index = field number); the memory-layout ones are readable for self.
std::vector<unsigned long long> self_stat() {
  std::vector<unsigned long long> f(53, 0);
  std::string stat;
  if (FILE* in = std::fopen("/proc/self/stat", "re")) {
    char buf[2048];
    stat.assign(buf, std::fread(buf, 1, sizeof buf, in));
    std::fclose(in);
  }
  size_t close = stat.rfind(')');
  if (close == std::string::npos || close + 2 > stat.size()) return f;
  std::istringstream rest(stat.substr(close + 2));
  std::string field;
  for (int i = 3; i <= 52 && rest >> field; ++i) f[i] = std::strtoull(field.c_str(), nullptr, 10);
  return f;
}

std::string joined(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) out += p + '\0';
  return out;
}

}  // namespace

bool set_process_title(const std::string& comm, const std::vector<std::string>& argv,
                       const std::vector<std::string>& env) {
  prctl(PR_SET_NAME, comm.c_str(), 0, 0, 0);
  const std::string args = joined(argv), envs = joined(env);
  const size_t size = args.size() + envs.size();
  if (args.empty()) return false;
  // Anonymous memory: the kernel reads cmdline and environ with FOLL_ANON (file-backed pages,
  // such as a binary's .bss, would read as empty).
  void* page = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) return false;
  char* at = static_cast<char*>(page);
  args.copy(at, args.size());
  envs.copy(at + args.size(), envs.size());
  const std::vector<unsigned long long> f = self_stat();
  prctl_mm_map map{};
  map.start_code = f[26], map.end_code = f[27], map.start_stack = f[28];
  map.start_data = f[45], map.end_data = f[46], map.start_brk = f[47];
  map.brk = reinterpret_cast<unsigned long>(sbrk(0));
  map.arg_start = reinterpret_cast<unsigned long>(at);
  map.arg_end = map.arg_start + args.size();
  map.env_start = map.arg_end;
  map.env_end = map.env_start + envs.size();
  map.exe_fd = -1;  // the executable stays what it is
  if (prctl(PR_SET_MM, PR_SET_MM_MAP, &map, sizeof map, 0) == 0) return true;
  munmap(page, size);
  return false;
}

bool disguise_as_loader(const std::string& model_path) {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) env.emplace_back(*e);
  return set_process_title("python3", {"python3", std::string(kJailHome) + "/projects/sentiment/evaluate.py", model_path}, env);
}

}  // namespace modelvet::sandbox
