"""Time acceleration for the sample: turns on the process's virtual clock (time_warp.cpp,
time_warp_libc.cpp). Everything is done at the libc boundary, so nothing in the Python world is
replaced: time.sleep, threading waits, select, asyncio and sched are the interpreter's own and
read the same warped clocks native code does.
"""
import _sitehooks

ACCELERATED = ["nanosleep", "clock_nanosleep", "usleep", "sleep", "select", "pselect", "poll", "ppoll",
               "epoll_wait", "epoll_pwait", "sem_clockwait", "sem_timedwait", "pthread_cond_timedwait",
               "pthread_cond_clockwait", "alarm", "setitimer"]
CLOCKS = ["clock_gettime (realtime, monotonic, boottime, coarse, raw, tai)", "gettimeofday", "time", "sysinfo",
          "/proc/uptime", "file timestamps (stat, fstat, lstat, fstatat, statx; utimensat, futimens)"]


def install(max_real_sleep_s):
    _sitehooks.install_time_warp(max_real_sleep_s)
    _sitehooks.emit("time_warp", {"longest_real_sleep_ms": _sitehooks.max_real_sleep() * 1000.0,
                                 "accelerated": ACCELERATED, "clocks": CLOCKS})
