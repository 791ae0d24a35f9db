#pragma once
// The child side of a detonation: runs inside the jail, starts embedded CPython with an audit
// hook, loads the model the way a victim would and reports what ran as JSON lines on event_fd.
#include <string>
#include <vector>

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

// A zygote (sandbox/zygote.h) for one loader: the interpreter, the audit hook and the loader's
// setup imports, before any file is known. Each jail forked from it then calls run_forked().
bool prepare_zygote(const std::string& loader, std::string* error);
int run_forked(const Options& opt, const std::vector<std::string>& envp);

// How the harness ends: a real Py_FinalizeEx, or (forked from a zygote) the shutdown of what
// the jail added (forked_shutdown.h), the process then _exiting.
enum class Shutdown { kFull, kForkedInterpreter };

// The part of run() after the interpreter started: the Python phases, grace and shutdown.
int run_started(const Options& opt, Shutdown shutdown = Shutdown::kFull);

}  // namespace modelvet::harness
