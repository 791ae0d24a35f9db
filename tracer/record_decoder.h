#pragma once
// Turns one ring-buffer record (tracer/trace_records.h) into a modelvet::Event. Pure: no state,
// no BPF; the per-process context (fd -> path, exec results) is added later by event_linker.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "tracer/trace_records.h"
#include "trace/event.h"

namespace modelvet::tracer {

struct DecodedRecord {
  uint64_t cgroup_id = 0;
  Event event;  // kinds starting with '_' are internal (linking only, never returned)
  // A foldable open (path hashed by the kernel): its repeats are counted under this key.
  std::optional<mv_fold_key> fold_key;
  // Not an open: the hash of the folded open whose fd it names (mmap), 0 when none.
  uint64_t path_hash = 0;
};

std::optional<DecodedRecord> decode_record(const void* data, size_t size);

// "O_WRONLY|O_CREAT|O_TRUNC"
std::string open_flags_string(uint64_t flags);
// x86_64 syscall name from libseccomp, "syscall_<nr>" when it does not know it.
std::string syscall_name(uint64_t nr);

}  // namespace modelvet::tracer
