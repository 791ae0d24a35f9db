#include "harness/time_warp.h"

#include <time.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdint>

namespace modelvet::harness {
namespace {

std::atomic<int64_t> g_skipped_ns{0};
std::atomic<int64_t> g_sleeps_accelerated{0};
double g_max_real_sleep_s = 0.005;

int64_t clock_ns(clockid_t id) {
  timespec ts;
  clock_gettime(id, &ts);
  return int64_t(ts.tv_sec) * 1000000000ll + ts.tv_nsec;
}

int64_t warped_ns(clockid_t id) { return clock_ns(id) + g_skipped_ns.load(); }

// nanosleep without the GIL; signals are checked like time.sleep does. -1 with an error set.
int sleep_released(int64_t ns) {
  timespec req{time_t(ns / 1000000000ll), long(ns % 1000000000ll)}, rem{};
  for (;;) {
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = nanosleep(&req, &rem);
    Py_END_ALLOW_THREADS
    if (rc == 0) return 0;
    if (errno != EINTR) {
      PyErr_SetFromErrno(PyExc_OSError);
      return -1;
    }
    if (PyErr_CheckSignals() != 0) return -1;
    req = rem;
  }
}

PyObject* warp_sleep(PyObject*, PyObject* arg) {
  double secs = PyFloat_AsDouble(arg);
  if (secs == -1.0 && PyErr_Occurred()) {
    PyErr_Format(PyExc_TypeError, "'%.200s' object cannot be interpreted as an integer", Py_TYPE(arg)->tp_name);
    return nullptr;
  }
  if (std::isnan(secs)) {
    PyErr_SetString(PyExc_ValueError, "Invalid value NaN (not a number)");
    return nullptr;
  }
  if (secs < 0) {
    PyErr_SetString(PyExc_ValueError, "sleep length must be non-negative");
    return nullptr;
  }
  if (PySys_Audit("time.sleep", "O", arg) < 0) return nullptr;
  double real = std::min(secs, g_max_real_sleep_s);
  if (sleep_released(int64_t(real * 1e9)) < 0) return nullptr;
  if (secs > real) {
    g_skipped_ns += int64_t((secs - real) * 1e9);
    ++g_sleeps_accelerated;
  }
  Py_RETURN_NONE;
}

PyObject* warp_time(PyObject*, PyObject*) { return PyFloat_FromDouble(double(warped_ns(CLOCK_REALTIME)) / 1e9); }
PyObject* warp_time_ns(PyObject*, PyObject*) { return PyLong_FromLongLong(warped_ns(CLOCK_REALTIME)); }
PyObject* warp_monotonic(PyObject*, PyObject*) { return PyFloat_FromDouble(double(warped_ns(CLOCK_MONOTONIC)) / 1e9); }
PyObject* warp_monotonic_ns(PyObject*, PyObject*) { return PyLong_FromLongLong(warped_ns(CLOCK_MONOTONIC)); }

// The originals' names and docs: the replacements should read like the real time module.
PyMethodDef kWarpedClocks[] = {
    {"sleep", warp_sleep, METH_O,
     "sleep(seconds)\n\nDelay execution for a given number of seconds.  The argument may be\n"
     "a floating point number for subsecond precision."},
    {"time", warp_time, METH_NOARGS,
     "time() -> floating point number\n\nReturn the current time in seconds since the Epoch.\n"
     "Fractions of a second may be present if the system clock provides them."},
    {"time_ns", warp_time_ns, METH_NOARGS,
     "time_ns() -> int\n\nReturn the current time in nanoseconds since the Epoch."},
    {"monotonic", warp_monotonic, METH_NOARGS, "monotonic() -> float\n\nMonotonic clock, cannot go backward."},
    {"monotonic_ns", warp_monotonic_ns, METH_NOARGS, "monotonic_ns() -> int\n\nMonotonic clock, cannot go backward, as nanoseconds."},
    {"perf_counter", warp_monotonic, METH_NOARGS, "perf_counter() -> float\n\nPerformance counter for benchmarking."},
    {"perf_counter_ns", warp_monotonic_ns, METH_NOARGS,
     "perf_counter_ns() -> int\n\nPerformance counter for benchmarking as nanoseconds."},
    {nullptr, nullptr, 0, nullptr}};

}  // namespace

bool install_time_warp(double max_real_sleep_s) {
  g_max_real_sleep_s = max_real_sleep_s;
  PyObject* time_module = PyImport_ImportModule("time");
  if (!time_module) return false;
  PyObject* module_name = PyUnicode_FromString("time");
  bool ok = module_name != nullptr;
  for (PyMethodDef* def = kWarpedClocks; ok && def->ml_name; ++def) {
    PyObject* fn = PyCFunction_NewEx(def, nullptr, module_name);
    ok = fn && PyObject_SetAttrString(time_module, def->ml_name, fn) == 0;
    Py_XDECREF(fn);
  }
  Py_XDECREF(module_name);
  Py_DECREF(time_module);
  return ok;
}

void warp_advance(double seconds) {
  if (seconds > 0) g_skipped_ns += int64_t(seconds * 1e9);
}

double warp_max_real_sleep() { return g_max_real_sleep_s; }

double real_monotonic_s() { return double(clock_ns(CLOCK_MONOTONIC)) / 1e9; }

nlohmann::json time_warp_summary() {
  return {{"sleeps_accelerated", g_sleeps_accelerated.load()}, {"skipped_ms", g_skipped_ns.load() / 1000000}};
}

void real_sleep_ms(int ms) {
  if (ms <= 0) return;
  timespec req{ms / 1000, long(ms % 1000) * 1000000l}, rem{};
  Py_BEGIN_ALLOW_THREADS
  while (nanosleep(&req, &rem) != 0 && errno == EINTR) req = rem;
  Py_END_ALLOW_THREADS
}

}  // namespace modelvet::harness
