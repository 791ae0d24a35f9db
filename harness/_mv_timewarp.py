"""Time acceleration for the sample (see time_warp.cpp for the clocks and time.sleep).

Here: threading waits with a timeout (Condition.wait, hence Event.wait, Timer, queue.get) are
cut to the same short real wait; when such a wait times out, the sample's clocks jump by the
full timeout, so a Timer(600, payload) fires during the grace period and still looks on time.
"""
import threading

import _modelvet

_original_condition_wait = threading.Condition.wait


def install(max_real_sleep_s):
    _modelvet.install_time_warp(max_real_sleep_s)
    cap = _modelvet.max_real_sleep()
    real_clock = _modelvet.real_monotonic
    advance = _modelvet.warp_advance

    def wait(self, timeout=None):
        if timeout is None or timeout <= cap:
            return _original_condition_wait(self, timeout)
        started = real_clock()
        notified = _original_condition_wait(self, cap)
        if not notified:
            advance(timeout - (real_clock() - started))
        return notified

    wait.__qualname__ = "Condition.wait"
    wait.__module__ = "threading"
    wait.__doc__ = _original_condition_wait.__doc__
    threading.Condition.wait = wait
    _modelvet.emit("time_warp", {
        "max_real_sleep_ms": cap * 1000.0,
        "accelerated": ["time.sleep", "threading.Condition.wait", "threading.Event.wait", "threading.Timer"],
        "clocks_advanced": ["time.time", "time.time_ns", "time.monotonic", "time.monotonic_ns",
                            "time.perf_counter", "time.perf_counter_ns"],
    })
