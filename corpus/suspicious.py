"""Suspicious samples: code compiled from strings that has no observable effect, and payloads
that only probe their environment (sandbox artifacts) and then do nothing. A human should look;
nothing here spawns, connects, persists or reads a secret.
"""
import textwrap

from catalog import Sample, bytes_writer
from pickle_asm import Call, Global, Seq, assemble, attr

SANDBOX_PROBE = textwrap.dedent("""\
    import os
    hints = []
    try:
        hints.append(open("/proc/1/cgroup").read())
    except OSError:
        pass
    hints.append(os.path.exists("/.dockerenv"))
    try:
        hints.append("TracerPid:\\t0" not in open("/proc/self/status").read())
    except OSError:
        pass
    hints.append(os.cpu_count())
    # A real sample would stop here if it looked like a sandbox, or continue otherwise;
    # this one does nothing either way.
""")


def _sample(file, technique, protocol, expr, description, evidence):
    return Sample(f"suspicious/{file}", "suspicious", technique, "pickle", description, evidence,
                  bytes_writer(assemble(expr, protocol)))


def samples():
    yield _sample("exec_noop_p2.pkl", "exec-noop", 2,
                  Call(Global("builtins", "exec"), ("total = sum(i * i for i in range(10))",)),
                  "builtins.exec of a source string that only computes a sum", "call builtins.exec")
    yield _sample("eval_noop_p1.pkl", "eval-noop", 1,
                  Call(Global("__builtin__", "eval"), ("[x ** 2 for x in range(4)]",)),
                  "protocol 1 __builtin__.eval of a list comprehension", "call builtins.eval")
    yield _sample("compile_exec_p4.pkl", "compile-exec-noop", 4,
                  Call(Global("builtins", "exec"),
                       (Call(Global("builtins", "compile"), ("scale = 1.0 / 255", "<config>", "exec")),)),
                  "builtins.compile of a source string, then exec of the code object; no effect",
                  "call builtins.compile; call builtins.exec")
    yield _sample("sandbox_probe_exec_p3.pkl", "sandbox-probe-exec", 3,
                  Call(Global("builtins", "exec"), (SANDBOX_PROBE,)),
                  "exec'd probe: reads /proc/1/cgroup and /proc/self/status, checks /.dockerenv, then nothing",
                  "call builtins.exec; read /proc/1/cgroup; stat /.dockerenv")
    cgroup = Call(attr(Call(Global("builtins", "open"), ("/proc/1/cgroup",)), "read"))
    yield _sample("sandbox_probe_pickle_p2.pkl", "sandbox-probe-pickle", 2,
                  Seq(cgroup, Call(Global("posixpath", "exists"), ("/.dockerenv",)), {"epoch": 3}),
                  "pure-pickle probe: open('/proc/1/cgroup').read(), os.path.exists('/.dockerenv'), then a plain dict",
                  "read /proc/1/cgroup; stat /.dockerenv")
    yield _sample("windows_nt_system_p2.pkl", "foreign-platform-gadget", 2,
                  Call(Global("nt", "system"), ("powershell -enc SQBFAFgA",)),
                  "nt.system (the Windows os module): cannot run on Linux, where it is stubbed; it was meant to",
                  "stub nt.system")
