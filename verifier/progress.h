#pragma once
// The batch progress line on stderr: only when stderr is a TTY, redrawn at most 4 times a second.
#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>

namespace modelvet {

class BatchSummary;

class Progress {
 public:
  Progress(size_t total, bool enabled);
  // Redraws `done/total files  rate/s  malicious … suspicious … benign … error …  ETA …s` (throttled).
  void update(const BatchSummary& done);
  void finish();  // ends the line so the closing summary starts on its own
  // The line for these figures (exposed for tests).
  static std::string render(size_t done, size_t total, double seconds, const BatchSummary& counts);

 private:
  size_t total_;
  bool enabled_, drawn_ = false;
  std::chrono::steady_clock::time_point started_, last_;
};

}  // namespace modelvet
