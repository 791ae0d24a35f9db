#pragma once
// The child side of a detonation: runs inside the jail, starts embedded CPython with an audit
// hook, loads the model the way a victim would and reports what ran as JSON lines on event_fd.
#include <string>

namespace modelvet::harness {

struct Options {
  std::string model_path;
  std::string loader;  // pickle|torch|joblib|dill|numpy|keras-h5|paddle|savedmodel|7z
  std::string format;  // the sniffed format id, reported back as-is
  int event_fd = 3;
  int grace_ms = 1500;
  bool exercise = true;
};

// Exit codes of run().
inline constexpr int kExitLoadFinished = 0;   // the load finished, whether it returned or raised
inline constexpr int kExitHarnessFailure = 3; // the harness itself could not do its job

int run(const Options& opt);

}  // namespace modelvet::harness
