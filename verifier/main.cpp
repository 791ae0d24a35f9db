#include <cstdio>
#include <cstring>
#include <exception>

#include "process/helper_mode.h"
#include "verifier/cli.h"

// Nothing throws out of main: an internal error is reported and exits 2 (per-file errors are
// caught in Verifier::verify and become that file's `error` result).
int main(int argc, char** argv) {
  // Before anything else: this binary started as one of its own helpers (a jail's bridge or
  // reaper, the decoy session's spawner, the ptrace helper: process/helper_mode.h).
  if (auto code = modelvet::process::run_helper_mode(argc, argv)) return *code;
  try {
    return modelvet::cli::main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "modelvet: internal error: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "modelvet: internal error: unknown exception\n");
  }
  return 2;
}
