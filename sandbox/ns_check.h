#pragma once
// Host-side proof about a jail's namespaces: that they are its own, and empty after teardown.
#include <cstdint>
#include <string>

namespace modelvet::sandbox {

// Inode of a namespace link such as /proc/<pid>/ns/pid, or 0 when it cannot be read.
uint64_t inode_of(const std::string& path);

// True when no process on the host is in the pid namespace with this inode any more (a walk of
// the host's /proc).
bool pid_namespace_empty(uint64_t inode);

// True when the process of this pidfd, the init of a pid namespace, exited within timeout_ms.
// That proves its namespace empty, with no walk: the kernel kills every other process of the
// namespace and waits until each is released before init's exit completes
// (zap_pid_ns_processes), and a pidfd turns readable only after that.
bool namespace_init_exited(int init_pidfd, int timeout_ms);

}  // namespace modelvet::sandbox
