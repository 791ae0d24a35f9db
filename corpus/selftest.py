#!/usr/bin/python3
"""Self-test of the corpus generators. Never loads a malicious sample:

1. pickle_asm round-trips harmless expressions at every protocol 0-5 (pickle.loads of
   assembled bytes equals the expected value; memo, STACK_GLOBAL, INST, Seq included).
2. Each container trojan shape (torch zip, bad CRC, odd flag bits, legacy, joblib, paddle, 7z,
   truncated stream) is rebuilt with a harmless payload, print(<token>), and loaded with the
   real library in a child process: the token must appear, proving the splice runs at load
   and the carrier still loads, exactly as the real payloads would inside the sandbox.
3. The full corpus is generated into a temporary directory, twice, byte-identical, and
   check.py validates it statically and loads its benign samples.

    selftest.py            exit 0 when everything holds
"""
import os
import pickle
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True

import containers  # noqa: E402
import malicious  # noqa: E402
import models  # noqa: E402
from pickle_asm import Call, Global, Inst, Memo, Ref, Seq, StackGlobal, assemble, attr, inject  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TOKEN = "modelvet-selftest-splice-ran"
HARMLESS = Call(Global("builtins", "print"), (TOKEN,))
failures = []


def expect(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def roundtrip():
    cases = [
        ({"a": [1, 2.5, None, True], "b": ("x", -7, 2**40)}, {"a": [1, 2.5, None, True], "b": ("x", -7, 2**40)}),
        (Call(Global("collections", "OrderedDict"), ([("k", 1)],)), {"k": 1}),
        (Seq(Memo("n", "fromkeys"), Call(attr(Global("builtins", "dict"), Ref("n")), (["p"],))), {"p": None}),
        (Inst("builtins", "len", ("abcd",)), 4),
        ("line\nbreak \\ back\x00slash é", "line\nbreak \\ back\x00slash é"),
    ]
    for proto in range(6):
        for expr, want in cases:
            got = pickle.loads(assemble(expr, proto))
            expect(got == want, f"protocol {proto}: {repr(want)[:40]}")
        if proto >= 3:
            expect(pickle.loads(assemble([b"\x00\xff"], proto)) == [b"\x00\xff"], f"protocol {proto}: bytes")
        if proto >= 4:
            expr = {"m": Memo("m", "builtins"), "f": Memo("f", "abs"), "v": Call(StackGlobal(Ref("m"), Ref("f")), (-3,))}
            expect(pickle.loads(assemble(expr, proto))["v"] == 3, f"protocol {proto}: STACK_GLOBAL over memo")
    carrier = pickle.dumps({"w": [1.0]}, protocol=4)
    expect(pickle.loads(inject(carrier, Call(Global("builtins", "len"), ("ab",)))) == {"w": [1.0]},
           "inject keeps a protocol-4 framed pickle loadable")


LOADER = r"""
import io, sys, zipfile
path, fmt = sys.argv[1], sys.argv[2]
if fmt == "torch":
    import torch; torch.load(path)
elif fmt == "joblib":
    import joblib; joblib.load(path)
elif fmt == "paddle":
    import pickle; pickle.load(open(path, "rb"), encoding="latin1")
elif fmt == "pickle":
    import pickle
    try:
        pickle.load(open(path, "rb"))
    except Exception as e:
        print("raised", type(e).__name__)
elif fmt == "7z":
    import py7zr, torch
    members = {name: bio.read() for name, bio in py7zr.SevenZipFile(path).readall().items()}
    if "pytorch_model.bin" in members:
        torch.load(io.BytesIO(members["pytorch_model.bin"]))
    else:  # members stored directly: rebuild the zip torch expects
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            for name, data in members.items():
                z.writestr(name, data)
        buf.seek(0); torch.load(buf)
"""


def splice_shapes():
    flag_bits = lambda z, n: containers.set_flag_bits(z, n, 0xD006)  # noqa: E731
    truncated = assemble(HARMLESS, 2, stop=False) + b"0}q\x00(X\x0e\x00\x00\x00encoder.wei"
    shapes = [
        ("torch zip", "torch", malicious._torch_zip_trojan(HARMLESS)),
        ("torch zip, bad CRC", "torch", malicious._torch_zip_trojan(HARMLESS, containers.corrupt_crc)),
        ("torch zip, odd flag bits", "torch", malicious._torch_zip_trojan(HARMLESS, flag_bits)),
        ("torch legacy", "torch", malicious._legacy_trojan(HARMLESS)),
        ("joblib", "joblib", inject(models.joblib_bytes(models.numpy_weights()), HARMLESS)),
        ("paddle", "paddle", inject(models.paddle_state_dict_pickle(), HARMLESS)),
        ("truncated pickle", "pickle", truncated),
    ]
    with tempfile.TemporaryDirectory(prefix="mv-corpus-selftest-") as d:
        sevenz, sevenz_members = os.path.join(d, "t.7z"), os.path.join(d, "m.7z")
        containers.write_7z(sevenz, [("pytorch_model.bin", malicious._torch_zip_trojan(HARMLESS))])
        containers.write_7z(sevenz_members, containers.torch_zip_members(malicious._torch_zip_trojan(HARMLESS)))
        paths = [("7z holding a checkpoint", "7z", sevenz), ("7z holding checkpoint members", "7z", sevenz_members)]
        for i, (name, fmt, data) in enumerate(shapes):
            path = os.path.join(d, f"shape{i}")
            with open(path, "wb") as f:
                f.write(data)
            paths.append((name, fmt, path))
        for name, fmt, path in paths:
            r = subprocess.run([sys.executable, "-c", LOADER, path, fmt], capture_output=True, text=True, timeout=120)
            ran = TOKEN in r.stdout and (r.returncode == 0)
            extra = "" if ran else f" (rc {r.returncode}: {r.stderr.strip().splitlines()[-1:]})"
            expect(ran, f"{name}: spliced payload runs at load and the file loads{extra}")


def corpus_end_to_end():
    with tempfile.TemporaryDirectory(prefix="mv-corpus-selftest-") as d:
        a, b = os.path.join(d, "a"), os.path.join(d, "b")
        gen = [sys.executable, os.path.join(HERE, "generate.py"), "--quiet", "--out"]
        subprocess.run(gen + [a], check=True)
        subprocess.run(gen + [b], check=True)
        files = sorted(os.path.relpath(os.path.join(r, f), a) for r, _, fs in os.walk(a) for f in fs)
        same = all(open(os.path.join(a, f), "rb").read() == open(os.path.join(b, f), "rb").read() for f in files)
        expect(same and len(files) > 40, f"two generations are byte-identical ({len(files)} files)")
        r = subprocess.run([sys.executable, os.path.join(HERE, "check.py"), a, "--load-benign"],
                           capture_output=True, text=True, timeout=600)
        print(r.stdout.strip())
        expect(r.returncode == 0, "check.py --load-benign passes on the generated corpus")
        demo = os.path.join(d, "demo")
        subprocess.run(gen + [demo, "--demo"], check=True)
        rows = open(os.path.join(demo, "manifest.jsonl")).read().splitlines()
        expect(6 <= len(rows) <= 12, f"demo corpus has {len(rows)} samples")
    expect(not any(n.startswith("mv_marker") for n in os.listdir("/tmp")), "no marker file appeared in /tmp")


if __name__ == "__main__":
    roundtrip()
    splice_shapes()
    corpus_end_to_end()
    print(f"{len(failures)} failure(s)")
    sys.exit(1 if failures else 0)
