// The harness's life: setup (interpreter, hook, recorder, frameworks) -> load -> exercise ->
// grace -> shutdown (a real Py_FinalizeEx so __del__, atexit and weakref finalizers run).
#include "harness/harness.h"

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <signal.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <system_error>
#include <thread>

#include "harness/audit_hook.h"
#include "harness/embedded_modules.h"
#include "harness/event_sink.h"
#include "harness/forked_shutdown.h"
#include "harness/native_module.h"
#include "harness/quiescence.h"
#include "harness/time_warp.h"
#include "sandbox/proc_title.h"
#include "trace/bytes_text.h"

namespace modelvet::harness {
namespace {

constexpr int kGraceSliceMs = 50;
// Where nothing is left that could run (quiescence.h), the grace ends after this much: time for
// the fake network and the tracer to take in what the load sent last.
constexpr int kQuiescentGraceMs = 200;
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
// pending calls it registered run on this (the main) thread between slices. With none of them
// left, nothing could act later and the grace ends early. Returns what it waited and why it ended.
nlohmann::json grace_period(int grace_ms, const QuiescenceCheck& quiescence) {
  enter_phase(Phase::grace, {{"ms", grace_ms}});
  int waited = 0;
  const char* left = "";
  while (waited < grace_ms) {
    const int slice = std::min(grace_ms - waited, kGraceSliceMs);
    real_sleep_ms(slice);
    waited += slice;
    if (PyErr_CheckSignals() != 0 || Py_MakePendingCalls() != 0) PyErr_Clear();
    if (waited >= kQuiescentGraceMs && waited < grace_ms) {
      left = quiescence.left_to_run();
      if (!left) return {{"waited_ms", waited}, {"ended", "nothing left to run"}};
    }
  }
  return {{"waited_ms", waited}, {"ended", "elapsed"}, {"left", left}};
}

// Finalisation waits for the sample's non-daemon threads; it must not wait forever.
void start_shutdown_watchdog(int budget_ms) {
  try {
    std::thread([budget_ms] {
      // Real time: std::this_thread::sleep_for would wait on the sample's (accelerated) clock.
      const int64_t end = real_clock_ns(CLOCK_MONOTONIC) + int64_t(budget_ms) * 1000000;
      for (int64_t now = real_clock_ns(CLOCK_MONOTONIC); now < end; now = real_clock_ns(CLOCK_MONOTONIC))
        warp::real_sleep_ns(end - now);
      emit("harness_error", {{"message", "interpreter shutdown did not finish; exiting"}});
      _exit(kExitLoadFinished);
    }).detach();
  } catch (const std::system_error& e) {
    // The sample used up the jail's process limit (a fork flood): a real-time SIGALRM bounds the
    // shutdown instead. The raw syscall, not libc's setitimer, which runs on the warped clock.
    emit("harness_error", {{"message", std::string("shutdown watchdog thread: ") + e.what() + "; bounded by SIGALRM"}});
    struct sigaction sa {};
    sa.sa_handler = [](int) { _exit(kExitLoadFinished); };
    sigaction(SIGALRM, &sa, nullptr);
    itimerval t{};
    t.it_value.tv_sec = std::max(1, budget_ms / 1000);
    syscall(SYS_setitimer, ITIMER_REAL, &t, nullptr);
  }
}

}  // namespace

int run(const Options& opt) {
  // In /proc the loader is the data scientist's `python3 evaluate.py <model>`, not this tool.
  sandbox::disguise_as_loader(opt.model_path);
  signal(SIGPIPE, SIG_IGN);
  sink_open(opt.event_fd);
  enter_phase(Phase::setup, {{"model", escape_bytes(opt.model_path)}, {"loader", opt.loader}, {"format", opt.format}});
  // The hook goes in before the interpreter exists: nothing the file does can precede it.
  if (!register_native_module() || PySys_AddAuditHook(audit_hook, nullptr) != 0) {
    harness_error("could not install the audit hook");
    return kExitHarnessFailure;
  }
  if (!start_interpreter()) return kExitHarnessFailure;
  return run_started(opt);
}

bool prepare_zygote(const std::string& loader, std::string* error) {
  signal(SIGPIPE, SIG_IGN);
  if (!register_native_module() || PySys_AddAuditHook(audit_hook, nullptr) != 0) {
    *error = "could not install the audit hook";
    return false;
  }
  if (!start_interpreter() || !load_embedded_modules(error)) {
    if (error->empty()) *error = "Python initialisation failed";
    return false;
  }
  // The loader's setup imports, exactly those a fresh harness makes before it reads the file;
  // the harness's own modules are dropped again (each jail runs them afresh, from code compiled
  // here once), what every module holds is noted (forked_shutdown.h), and all of it is frozen
  // out of the collector's sight so that collections in a jail copy fewer pages.
  PyObject* scope = PyDict_New();
  PyObject* name = PyUnicode_FromString(loader.c_str());
  PyDict_SetItemString(scope, "_loader", name);
  Py_XDECREF(name);
  PyObject* imports = PyRun_String(
      "import gc, importlib, sys, _mv_loaders\n"
      "for _n in _mv_loaders.SETUP_IMPORTS.get(_loader, []):\n"
      "    importlib.import_module(_n)\n"
      "for _n in [n for n in sys.modules if n.startswith('_mv_') or n == '_sitehooks']:\n"
      "    del sys.modules[_n]\n",
      Py_file_input, scope, scope);
  Py_XDECREF(imports);
  if (!imports) {
    Py_DECREF(scope);
    *error = "zygote imports: " + take_python_error();
    return false;
  }
  if (!snapshot_zygote_modules(error)) {
    Py_DECREF(scope);
    return false;
  }
  PyObject* frozen = PyRun_String("gc.collect()\ngc.freeze()\n", Py_file_input, scope, scope);
  Py_DECREF(scope);
  Py_XDECREF(frozen);
  if (!frozen) {
    *error = "zygote freeze: " + take_python_error();
    return false;
  }
  return true;
}

int run_forked(const Options& opt, const std::vector<std::string>& envp) {
  PyOS_AfterFork_Child();  // the interpreter's locks and threads, as os.fork would leave them
  sandbox::disguise_as_loader(opt.model_path);
  sink_open(opt.event_fd);
  enter_phase(Phase::setup, {{"model", escape_bytes(opt.model_path)}, {"loader", opt.loader}, {"format", opt.format}});
  // os.environ was read when the zygote started: it becomes this jail's environment (the C
  // one was replaced before this call; clearing _data skips unsetenv of the old names).
  PyObject* pairs = PyList_New(0);
  for (const auto& e : envp) {
    PyObject* item = PyBytes_FromStringAndSize(e.data(), Py_ssize_t(e.size()));
    PyList_Append(pairs, item);
    Py_DECREF(item);
  }
  PyObject* locals = PyDict_New();
  PyDict_SetItemString(locals, "_pairs", pairs);
  Py_DECREF(pairs);
  PyObject* env = PyRun_String(
      "import os\n"
      "os.environ._data.clear()\n"
      "for _p in _pairs:\n"
      "    _k, _, _v = _p.partition(b'=')\n"
      "    os.environ[os.fsdecode(_k)] = os.fsdecode(_v)\n",
      Py_file_input, locals, locals);
  Py_DECREF(locals);
  if (!env) {
    harness_error("environment: " + take_python_error());
    return kExitHarnessFailure;
  }
  Py_DECREF(env);
  return run_started(opt, Shutdown::kForkedInterpreter);
}

int run_started(const Options& opt, Shutdown shutdown) {
  int rc = kExitLoadFinished;
  std::string error;
  const QuiescenceCheck quiescence;  // before the file's code: the decoy session, the shell
  if (!load_embedded_modules(&error)) {
    harness_error(error);
    rc = kExitHarnessFailure;
  } else if (!run_python_phases(opt)) {
    rc = kExitHarnessFailure;
  }
  nlohmann::json grace = rc == kExitLoadFinished ? grace_period(opt.grace_ms, quiescence) : nlohmann::json{{"waited_ms", 0}, {"ended", "skipped"}};

  nlohmann::json summary = {{"audit", audit_summary()}, {"time_warp", time_warp_summary()}, {"grace", grace}};
  enter_phase(Phase::shutdown, summary);
  start_shutdown_watchdog(std::max(kMinShutdownBudgetMs, 2 * opt.grace_ms));
  if (shutdown == Shutdown::kForkedInterpreter)
    finalize_forked_interpreter();  // the caller _exits: the zygote's modules are never torn down
  else
    Py_FinalizeEx();
  return rc;
}

}  // namespace modelvet::harness
