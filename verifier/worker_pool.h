#pragma once
// Runs fn(index, slot) for every index on `jobs` threads; slot is the worker's number, so each
// concurrent jail gets its own uid and cgroup name. Results are collected by the caller.
#include <atomic>
#include <functional>
#include <thread>
#include <vector>

namespace modelvet {

inline void run_on_workers(size_t count, int jobs, const std::function<void(size_t index, int slot)>& fn) {
  std::atomic<size_t> next{0};
  std::vector<std::thread> workers;
  jobs = std::max(1, std::min<int>(jobs, static_cast<int>(count)));
  for (int slot = 0; slot < jobs; ++slot)
    workers.emplace_back([&, slot] {
      for (size_t i; (i = next.fetch_add(1)) < count;) fn(i, slot);
    });
  for (auto& w : workers) w.join();
}

}  // namespace modelvet
