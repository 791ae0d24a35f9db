#pragma once
// What the tracer needs to know about a cgroup-v2 directory given as an open fd.
#include <cstdint>
#include <string>

namespace modelvet::tracer {

// Where cgroup2 is mounted (from /proc/self/mountinfo), "" when it is not.
std::string find_cgroup2_mount();
// The id BPF's bpf_get_current_cgroup_id() reports for tasks inside it; 0 and *error on failure.
uint64_t cgroup_id_of(int cgroup_dir_fd, std::string* error);
// Its depth below the cgroup2 root (root = 0), -1 when unknown.
int cgroup_level_of(int cgroup_dir_fd);

}  // namespace modelvet::tracer
