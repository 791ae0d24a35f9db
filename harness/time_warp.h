#pragma once
// Time acceleration for the sample: long sleeps are cut short and the clocks the sample can read
// (time.time, monotonic, perf_counter and their _ns forms) jump ahead by the time skipped, so a
// payload that sleeps before acting still acts within the run, and "elapsed" checks still pass.
// The replacements are C builtins with the originals' names, so they look like the originals.
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <nlohmann/json.hpp>

namespace modelvet::harness {

// Replaces the clock functions in the `time` module. Sleeps longer than max_real_sleep_s last
// max_real_sleep_s. Needs the GIL. False (with a Python error set) on failure.
bool install_time_warp(double max_real_sleep_s);

// Moves the sample's clocks forward (a threading wait that was cut short).
void warp_advance(double seconds);

double warp_max_real_sleep();

// Real, unwarped clock for the harness's own bookkeeping.
double real_monotonic_s();

// {"sleeps_accelerated": n, "skipped_ms": ms}.
nlohmann::json time_warp_summary();

// Sleeps for real with the GIL released, so the sample's threads run meanwhile.
void real_sleep_ms(int ms);

}  // namespace modelvet::harness
