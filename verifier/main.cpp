#include <cstdio>
#include <exception>

#include "verifier/cli.h"

// Nothing throws out of main: an internal error is reported and exits 2 (per-file errors are
// caught in Verifier::verify and become that file's `error` result).
int main(int argc, char** argv) {
  try {
    return modelvet::cli::main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "modelvet: internal error: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "modelvet: internal error: unknown exception\n");
  }
  return 2;
}
