// The harness's life: setup (interpreter, hook, recorder, frameworks) -> load -> exercise ->
// grace -> shutdown (a real Py_FinalizeEx so __del__, atexit and weakref finalizers run).
#include "harness/harness.h"

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "harness/audit_hook.h"
#include "harness/embedded_modules.h"
#include "harness/event_sink.h"
#include "harness/native_module.h"
#include "harness/time_warp.h"
#include "trace/bytes_text.h"

namespace modelvet::harness {
namespace {

constexpr int kGraceSliceMs = 50;
constexpr int kMinShutdownBudgetMs = 3000;

void harness_error(const std::string& message) { emit("harness_error", {{"message", message}}); }

// Isolated from the caller's environment like `python3 -I`, but with the site module so
// Debian's dist-packages (where the victim libraries live) is on sys.path.
bool start_interpreter() {
  PyConfig config;
  PyConfig_InitIsolatedConfig(&config);
  config.site_import = 1;
  config.write_bytecode = 0;
  config.safe_path = 1;
  config.user_site_directory = 0;
  config.use_environment = 0;
  config.install_signal_handlers = 1;  // as in a victim's python: SIGINT -> KeyboardInterrupt, SIGPIPE ignored
  config.parse_argv = 0;
  char* argv[] = {const_cast<char*>("python3")};
  PyStatus status = PyConfig_SetString(&config, &config.program_name, L"/usr/bin/python3.11");
  if (!PyStatus_Exception(status)) status = PyConfig_SetBytesArgv(&config, 1, argv);
  if (!PyStatus_Exception(status)) status = Py_InitializeFromConfig(&config);
  PyConfig_Clear(&config);
  if (PyStatus_Exception(status)) {
    harness_error(std::string("Python initialisation failed: ") + (status.err_msg ? status.err_msg : "?"));
    return false;
  }
  return true;
}

// _mv_main.main(model_path, loader, format, exercise): setup's imports, load, exercise.
bool run_python_phases(const Options& opt) {
  PyObject* module = PyImport_ImportModule("_mv_main");
  // The path as the OS has it: a name that is not UTF-8 decodes with surrogateescape, as
  // os.fsdecode would, so the loader opens the very file (never UnicodeDecodeError).
  PyObject* result = module ? PyObject_CallMethod(module, "main", "Nssi", PyUnicode_DecodeFSDefault(opt.model_path.c_str()),
                                                  opt.loader.c_str(), opt.format.c_str(), int(opt.exercise))
                            : nullptr;
  Py_XDECREF(module);
  if (!result) {
    harness_error("harness Python failed: " + take_python_error());
    return false;
  }
  bool ok = PyObject_IsTrue(result) == 1;
  Py_DECREF(result);
  return ok;
}

// Threads, timers and forked children of the sample get time to act; signal handlers and
// pending calls it registered run on this (the main) thread between slices.
void grace_period(int grace_ms) {
  enter_phase(Phase::grace, {{"ms", grace_ms}});
  for (int left = grace_ms; left > 0; left -= kGraceSliceMs) {
    real_sleep_ms(std::min(left, kGraceSliceMs));
    if (PyErr_CheckSignals() != 0 || Py_MakePendingCalls() != 0) PyErr_Clear();
  }
}

// Finalisation waits for the sample's non-daemon threads; it must not wait forever.
void start_shutdown_watchdog(int budget_ms) {
  std::thread([budget_ms] {
    std::this_thread::sleep_for(std::chrono::milliseconds(budget_ms));
    emit("harness_error", {{"message", "interpreter shutdown did not finish; exiting"}});
    _exit(kExitLoadFinished);
  }).detach();
}

}  // namespace

int run(const Options& opt) {
  signal(SIGPIPE, SIG_IGN);
  sink_open(opt.event_fd);
  enter_phase(Phase::setup, {{"model", escape_bytes(opt.model_path)}, {"loader", opt.loader}, {"format", opt.format}});
  // The hook goes in before the interpreter exists: nothing the file does can precede it.
  if (!register_native_module() || PySys_AddAuditHook(audit_hook, nullptr) != 0) {
    harness_error("could not install the audit hook");
    return kExitHarnessFailure;
  }
  if (!start_interpreter()) return kExitHarnessFailure;

  int rc = kExitLoadFinished;
  std::string error;
  if (!load_embedded_modules(&error)) {
    harness_error(error);
    rc = kExitHarnessFailure;
  } else if (!run_python_phases(opt)) {
    rc = kExitHarnessFailure;
  }
  if (rc == kExitLoadFinished) grace_period(opt.grace_ms);

  nlohmann::json summary = {{"audit", audit_summary()}, {"time_warp", time_warp_summary()}};
  enter_phase(Phase::shutdown, summary);
  start_shutdown_watchdog(std::max(kMinShutdownBudgetMs, 2 * opt.grace_ms));
  Py_FinalizeEx();
  return rc;
}

}  // namespace modelvet::harness
