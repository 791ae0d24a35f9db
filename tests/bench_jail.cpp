// Benchmark: the cost of setting up and tearing down one jail (no Python, /bin/true inside).
// Prints medians over N runs; run by scripts/bench.sh, never as a timed unit test.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <vector>

#include "process/helper_mode.h"
#include "sandbox/jail.h"

namespace {
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}
}  // namespace

int main(int argc, char** argv) {
  if (auto code = modelvet::process::run_helper_mode(argc, argv)) return *code;  // its jails' helpers
  int runs = argc > 1 ? std::atoi(argv[1]) : 50;
  std::string model = "/tmp/modelvet-bench-model.pkl";
  std::ofstream(model, std::ios::binary) << std::string("\x80\x04}\x94.", 5);
  std::vector<double> setup, run, teardown, total;
  for (int i = 0; i < runs; ++i) {
    modelvet::sandbox::JailConfig cfg;
    cfg.model_path = model;
    cfg.exe_path = "/bin/true";
    auto t0 = std::chrono::steady_clock::now();
    auto out = modelvet::sandbox::run_jail(cfg, [](const modelvet::sandbox::JailHandle& h, std::string*) {
      return h.netns.isolated();
    });
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (!out.ran || !out.clean_teardown) {
      std::fprintf(stderr, "jail failed: %s\n", out.error.c_str());
      return 1;
    }
    setup.push_back(out.setup_ms), run.push_back(out.run_ms), teardown.push_back(out.teardown_ms), total.push_back(ms);
  }
  std::printf("jail (n=%d, /bin/true inside): setup %.1f ms, run %.1f ms, teardown %.1f ms, total %.1f ms (medians)\n",
              runs, median(setup), median(run), median(teardown), median(total));
  return 0;
}
