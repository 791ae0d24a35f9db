#pragma once
// What a jail leaves on the host, read from /proc and the filesystem: for the tests that kill a
// supervisor and check that its jails are gone (processes, namespaces, cgroups, mounts, staging).
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <fmt/core.h>

#include "sandbox/staging.h"

namespace modelvet::testing {

struct ProcInfo {
  pid_t pid = 0, ppid = 0;
  char state = 0;
  uint64_t pidns = 0, netns = 0;
};

inline uint64_t inode_at(const std::string& path) {
  struct stat st{};
  return stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

// A /proc file read with plain syscalls: a process that exits mid-read gives "", never a throw.
inline std::string read_proc_file(const std::string& path) {
  std::string out;
  FILE* f = std::fopen(path.c_str(), "re");
  if (!f) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  std::fclose(f);
  return out;
}

inline std::map<pid_t, ProcInfo> read_processes() {
  std::map<pid_t, ProcInfo> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || !isdigit(static_cast<unsigned char>(name[0]))) continue;
    std::string line = read_proc_file(entry.path().string() + "/stat");
    size_t close = line.rfind(')');
    if (close == std::string::npos) continue;
    ProcInfo p;
    p.pid = std::atoi(name.c_str());
    if (std::sscanf(line.c_str() + close + 1, " %c %d", &p.state, &p.ppid) != 2) continue;
    p.pidns = inode_at(entry.path().string() + "/ns/pid");
    p.netns = inode_at(entry.path().string() + "/ns/net");
    out[p.pid] = p;
  }
  return out;
}

inline std::set<std::string> mount_lines() {
  std::set<std::string> lines;
  std::ifstream in("/proc/self/mountinfo");
  for (std::string line; std::getline(in, line);) lines.insert(line);
  return lines;
}

// <root>/<kStagingPrefix><pid>.* : the staging dirs (and their /tmp twins) a supervisor made.
inline std::vector<std::string> staging_dirs_of(pid_t supervisor) {
  std::vector<std::string> dirs;
  const std::string prefix = fmt::format("{}{}.", modelvet::sandbox::kStagingPrefix, supervisor);
  for (const char* root : modelvet::sandbox::kStagingRoots) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(root, ec))
      if (entry.path().filename().string().rfind(prefix, 0) == 0) dirs.push_back(entry.path().string());
  }
  return dirs;
}

// Everything of one supervisor's jails, found while they run.
struct JailFootprint {
  std::set<pid_t> processes;          // bridges, reapers, jail inits and whatever runs in them
  std::set<uint64_t> pidns, netns;    // the jails' namespaces
  std::vector<std::string> staging;   // staging dirs
  std::vector<std::string> cgroups;   // cgroup dirs (as root)
};

inline JailFootprint footprint_of(pid_t supervisor) {
  JailFootprint f;
  auto procs = read_processes();
  const uint64_t own_pidns = inode_at("/proc/self/ns/pid"), own_netns = inode_at("/proc/self/ns/net");
  std::set<pid_t> frontier = {supervisor};
  for (bool grew = true; grew;) {  // every descendant of the supervisor
    grew = false;
    for (const auto& [pid, p] : procs)
      if (frontier.count(p.ppid) && !frontier.count(pid)) frontier.insert(pid), grew = true;
  }
  frontier.erase(supervisor);
  for (pid_t pid : frontier) {
    f.processes.insert(pid);
    const ProcInfo& p = procs[pid];
    if (p.pidns && p.pidns != own_pidns) f.pidns.insert(p.pidns);
    if (p.netns && p.netns != own_netns) f.netns.insert(p.netns);
  }
  for (const auto& [pid, p] : procs)  // anything else in those namespaces
    if (f.pidns.count(p.pidns) || f.netns.count(p.netns)) f.processes.insert(pid);
  f.staging = staging_dirs_of(supervisor);
  return f;
}

// What of a footprint is still on the host; empty when nothing is.
inline std::vector<std::string> leftovers(const JailFootprint& f, const std::set<std::string>& mounts_before) {
  std::vector<std::string> left;
  auto procs = read_processes();
  for (pid_t pid : f.processes) {
    auto it = procs.find(pid);
    if (it != procs.end() && it->second.state != 'Z') left.push_back(fmt::format("process {}", pid));
  }
  for (const auto& [pid, p] : procs)
    if (p.state != 'Z' && (f.pidns.count(p.pidns) || f.netns.count(p.netns)))
      left.push_back(fmt::format("process {} in a jail namespace", pid));
  std::error_code ec;
  for (const auto& d : f.staging)
    if (std::filesystem::exists(d, ec)) left.push_back("staging " + d);
  for (const auto& d : f.cgroups)
    if (std::filesystem::exists(d, ec)) left.push_back("cgroup " + d);
  for (const auto& line : mount_lines())
    if (!mounts_before.count(line)) left.push_back("mount " + line);
  return left;
}

}  // namespace modelvet::testing
