// Benchmark: the static pre-scan alone (sniff + pickle disassembly + container walk) over files
// given on the command line, ROUNDS times each. Prints files/s over the median round; run by
// scripts/bench.sh, never as a timed unit test.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "prescan/prescan.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: prescan_bench ROUNDS FILE...\n");
    return 2;
  }
  int rounds = std::max(1, std::atoi(argv[1]));
  std::vector<double> secs;
  size_t flagged = 0;
  for (int r = 0; r < rounds; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 2; i < argc; ++i) {
      auto rep = modelvet::prescan::prescan_file(argv[i]);
      if (r == 0) flagged += rep.to_json().value("flagged", nlohmann::json::array()).size();
    }
    secs.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(secs.begin(), secs.end());
  double med = secs[secs.size() / 2];
  int n = argc - 2;
  std::printf("%.1f files/s (%d files, median of %d rounds %.4f s, %zu flagged globals)\n", n / std::max(med, 1e-9), n,
              rounds, med, flagged);
  return 0;
}
