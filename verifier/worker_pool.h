#pragma once
// Runs fn(index, slot) for every index on `jobs` threads; slot is the worker's number, so each
// concurrent jail gets its own uid and cgroup name. Results are collected by the caller.
// A worker blocks (poll, waitpid) while its jail runs, so a grace period waits without a core.
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace modelvet {

// `stop`, when given and set, makes the workers take no further index (the running ones finish).
// After each index the worker hands what it freed back to the kernel (malloc_trim): a batch of
// hours keeps the resident size of its steady state, not of its busiest moment.
inline void run_on_workers(size_t count, int jobs, const std::function<void(size_t index, int slot)>& fn,
                           const std::atomic<bool>* stop = nullptr) {
  std::atomic<size_t> next{0};
  std::vector<std::thread> workers;
  jobs = std::max(1, std::min<int>(jobs, static_cast<int>(count)));
  for (int slot = 0; slot < jobs; ++slot)
    workers.emplace_back([&, slot] {
      for (size_t i; !(stop && stop->load()) && (i = next.fetch_add(1)) < count;) {
        fn(i, slot);
        malloc_trim(0);
      }
    });
  for (auto& w : workers) w.join();
}

// Memory a detonation needs in practice: embedded Python with torch imported (~240 MB), the
// load, the jail's tmpfs scratch; the cgroup cap per jail (3 GiB) is a ceiling, not a working set.
inline constexpr long kJobMemoryBytes = 768L << 20;

inline long mem_available_bytes() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  long kb = 0;
  std::string unit;
  while (in >> key >> kb >> unit)
    if (key == "MemAvailable:") return kb * 1024;
  return 0;
}

// batch's default --jobs: 2 per core, because half of a detonation is waiting (the grace period,
// the harness's shutdown) while the other half is CPU (Python start-up, imports), capped by the
// memory available, 768 MiB a job; at least 1, at most 256:
//   jobs = clamp(min(2 × cores, MemAvailable / 768 MiB), 1, 256)
inline int default_jobs(long cores = 0, long mem_available = -1) {
  if (cores <= 0) cores = std::max(1L, sysconf(_SC_NPROCESSORS_ONLN));
  if (mem_available < 0) mem_available = mem_available_bytes();
  long by_mem = mem_available > 0 ? mem_available / kJobMemoryBytes : 2 * cores;
  return int(std::clamp(std::min(2 * cores, by_mem), 1L, 256L));
}

// Jails forked from a zygote share its interpreter and imports: a job's own memory is what the
// load copies and allocates (scripts/bench.sh: a median 20 MB for a small pickle's jail, 38 MB
// for a small torch checkpoint's, every process of the jail together), and its CPU is about a
// tenth of a second, so most of a job is waiting (setup, the grace period). 16 per core (on 2
// cores, 32 jobs ran 40 pickles in 4.7 s where 16 took 6.9 s), 128 MiB a job:
//   jobs = clamp(min(16 × cores, MemAvailable / 128 MiB), 1, 256)
inline constexpr long kZygoteJobMemoryBytes = 128L << 20;

inline int default_zygote_jobs(long cores = 0, long mem_available = -1) {
  if (cores <= 0) cores = std::max(1L, sysconf(_SC_NPROCESSORS_ONLN));
  if (mem_available < 0) mem_available = mem_available_bytes();
  long by_mem = mem_available > 0 ? mem_available / kZygoteJobMemoryBytes : 16 * cores;
  return int(std::clamp(std::min(16 * cores, by_mem), 1L, 256L));
}

}  // namespace modelvet
