#include "verifier/progress.h"

#include <algorithm>
#include <cstdio>

#include <fmt/core.h>

#include "verifier/reclassify.h"

namespace modelvet {

Progress::Progress(size_t total, bool enabled)
    : total_(total), enabled_(enabled), started_(std::chrono::steady_clock::now()), last_() {}

std::string Progress::render(size_t done, size_t total, double seconds, const BatchSummary& c) {
  double rate = done / std::max(seconds, 1e-3);
  std::string eta = done == 0 ? "?" : fmt::format("{:.0f}s", double(total - std::min(done, total)) / std::max(rate, 1e-6));
  return fmt::format("{}/{} files  {:.2f}/s  malicious {} suspicious {} benign {} error {}  ETA {}", done, total, rate,
                     c.count("malicious"), c.count("suspicious"), c.count("benign"), c.count("error"), eta);
}

void Progress::update(const BatchSummary& done) {
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (drawn_ && done.files() < total_ && now - last_ < std::chrono::milliseconds(250)) return;
  last_ = now;
  drawn_ = true;
  double secs = std::chrono::duration<double>(now - started_).count();
  fmt::print(stderr, "\r\033[K{}", render(done.files(), total_, secs, done));
  std::fflush(stderr);
}

void Progress::finish() {
  if (enabled_ && drawn_) fmt::print(stderr, "\n");
}

}  // namespace modelvet
