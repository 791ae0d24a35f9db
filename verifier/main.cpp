#include <cstdio>
#include <cstring>
#include <exception>

#include "sandbox/reaper.h"
#include "sandbox/session_tree.h"
#include "verifier/cli.h"

// Nothing throws out of main: an internal error is reported and exits 2 (per-file errors are
// caught in Verifier::verify and become that file's `error` result).
int main(int argc, char** argv) {
  // Inside a jail, before anything else: the decoy session's spawner (sandbox/session_tree.h).
  if (argc > 1 && std::strcmp(argv[1], modelvet::sandbox::kSessionSpawnerMode) == 0)
    return modelvet::sandbox::run_session_spawner(argc, argv);
  // Beside a jail, on the host: removes it if the supervisor dies (sandbox/reaper.h).
  if (argc > 1 && std::strcmp(argv[1], modelvet::sandbox::kReaperMode) == 0) modelvet::sandbox::run_reaper(argc, argv);
  try {
    return modelvet::cli::main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "modelvet: internal error: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "modelvet: internal error: unknown exception\n");
  }
  return 2;
}
