#pragma once
// Host-side proof about a jail's namespaces: that they are its own, and empty after teardown.
#include <cstdint>
#include <string>

namespace modelvet::sandbox {

// Inode of a namespace link such as /proc/<pid>/ns/pid, or 0 when it cannot be read.
uint64_t inode_of(const std::string& path);

// True when no process on the host is in the pid namespace with this inode any more.
bool pid_namespace_empty(uint64_t inode);

}  // namespace modelvet::sandbox
