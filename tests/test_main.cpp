// Every test binary's main: a process the tests started as one of the product's helpers (a
// jail's bridge or reaper, a ptrace helper: process/helper_mode.h) becomes it; any other runs
// the tests.
#include <gtest/gtest.h>

#include "process/helper_mode.h"

int main(int argc, char** argv) {
  if (auto code = modelvet::process::run_helper_mode(argc, argv)) return *code;
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
