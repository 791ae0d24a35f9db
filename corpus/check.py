#!/usr/bin/python3
"""Checks a generated corpus without running any payload.

    check.py DIR [--load-benign]

Static (always): every manifest row is well-formed and its file exists; each file parses as
its format (pickletools over every pickle stream, zip/7z/npy/npz/H5 structure); the pickles
import what their label implies (malicious and suspicious ones reach a dangerous callable,
benign ones none); only the intentionally broken sample fails to disassemble.

--load-benign: additionally loads each *benign* sample with its real library, one child
process per file, after re-checking statically that it imports nothing dangerous. Malicious and
suspicious samples are never loaded here: only modelvet's sandbox detonates them.
"""
import argparse
import base64
import io
import json
import os
import pickletools
import struct
import subprocess
import sys
import zipfile
import zlib

sys.dont_write_bytecode = True

FIELDS = ("file", "label", "technique", "format", "description", "expect_evidence")
FORMATS = {"pickle", "dill", "paddle", "joblib", "pytorch-zip", "pytorch-legacy", "torchscript",
           "7z-pytorch", "numpy-npy", "numpy-npz", "keras-h5", "savedmodel",
           "tar", "nemo", "zip", "safetensors", "hdf5", "gguf", "onnx", "keras-v3"}  # formats.py's (checked through the jail)
# Intentionally malformed: the payload runs, then the stream ends early.
BROKEN = {"truncated-after-payload"}
# Globals no benign model needs; any of them in a benign sample is a corpus bug.
DANGEROUS_MODULES = {"os", "posix", "nt", "subprocess", "socket", "ctypes", "runpy", "importlib",
                     "_posixsubprocess", "pty", "shutil", "sys", "time", "webbrowser", "antigravity", "urllib",
                     "http", "requests", "posixpath"}
DANGEROUS_NAMES = {"builtins.exec", "builtins.eval", "builtins.compile", "builtins.open",
                   "builtins.__import__", "__builtin__.eval", "__builtin__.exec",
                   "__builtin__.open", "pickle.loads", "_pickle.loads", "marshal.loads"}
# Keras Lambda code objects: names a benign lambda never uses.
DANGEROUS_CODE_NAMES = {"__import__", "system", "exec", "eval", "open", "popen", "socket", "os"}


# --- pickle streams -------------------------------------------------------------------------

def pickle_globals(data, start=0, tolerate_arrays=False):
    """(globals imported, end offset) of the pickle stream at data[start:]; raises ValueError
    on malformed streams. A small value tracker resolves STACK_GLOBAL operands, memoized ones
    included. tolerate_arrays: joblib writes raw array bytes inside the stream after each
    NumpyArrayWrapper; stop there instead of failing."""
    stream = io.BytesIO(data)
    stream.seek(start)
    found, stack, memo = [], [], {}
    ops = pickletools.genops(stream)
    while True:
        try:
            op, arg, _ = next(ops)
        except StopIteration:
            raise ValueError("no STOP")
        except ValueError:
            if tolerate_arrays and any(g.endswith("NumpyArrayWrapper") for g in found):
                return found, stream.tell()
            raise
        name = op.name
        if name in ("GLOBAL", "INST"):
            found.append(arg.replace(" ", "."))
            stack.append(None)
        elif name == "STACK_GLOBAL":
            mod, attr = stack[-2:] if len(stack) >= 2 else (None, None)
            found.append(f"{mod}.{attr}")
            stack[-2:] = [None]
        elif name in ("SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "STRING",
                      "BINSTRING", "SHORT_BINSTRING"):
            stack.append(arg)
        elif name == "MEMOIZE":
            memo[len(memo)] = stack[-1] if stack else None
        elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
            memo[int(arg)] = stack[-1] if stack else None
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            stack.append(memo.get(int(arg)))
        elif name == "STOP":
            return found, stream.tell()
        else:
            stack.append(None)


def is_dangerous(glob):
    module = glob.rsplit(".", 1)[0]
    return glob in DANGEROUS_NAMES or module.split(".")[0] in DANGEROUS_MODULES


# --- containers -----------------------------------------------------------------------------

def zip_member_raw(data, info):
    """A stored member's bytes straight from its local header (no CRC check: the bad-CRC sample
    must still be inspectable)."""
    off = info.header_offset
    name_len, extra_len = struct.unpack_from("<HH", data, off + 26)
    start = off + 30 + name_len + extra_len
    raw = data[start:start + info.compress_size]
    return raw if info.compress_type == zipfile.ZIP_STORED else zlib.decompress(raw, -15)


def torch_zip_pickles(data):
    z = zipfile.ZipFile(io.BytesIO(data))
    names = [i.filename for i in z.infolist()]
    prefix = names[0].split("/")[0]
    if not any(n.endswith("/version") for n in names) or any(n.split("/")[0] != prefix for n in names):
        raise ValueError(f"not a torch zip layout: {names}")
    return [zip_member_raw(data, i) for i in z.infolist() if i.filename.endswith(".pkl")]


def legacy_globals(data):
    found, pos = [], 0
    for _ in range(5):  # magic, protocol version, sys_info, object, storage keys
        g, pos = pickle_globals(data, pos)
        found += g
    return found


def joblib_globals(data):
    if data[:1] == b"\x78":  # zlib stream (compress=1..9)
        data = zlib.decompress(data)
    # Raw array bytes follow each NumpyArrayWrapper inside the stream, so disassembly stops
    # there; everything before (including anything spliced in front) is covered.
    return pickle_globals(data, tolerate_arrays=True)[0]


def npy_pickle_globals(data):
    import numpy as np
    f = io.BytesIO(data)
    major, minor = np.lib.format.read_magic(f)
    header = np.lib.format._read_array_header(f, (major, minor))
    if header[2].hasobject:
        return pickle_globals(data, f.tell())[0]
    return []


def npz_globals(data):
    z = zipfile.ZipFile(io.BytesIO(data))
    found = []
    for i in z.infolist():
        if not i.filename.endswith(".npy"):
            raise ValueError(f"npz member {i.filename}")
        found += npy_pickle_globals(z.read(i.filename))
    return found


def sevenz_pickles(path):
    """The pickles in a 7z: those of a torch zip checkpoint member, or torch members stored
    directly (archive/data.pkl, the nullifAI shape)."""
    import py7zr
    with py7zr.SevenZipFile(path, "r") as archive:
        members = {name: bio.read() for name, bio in archive.readall().items()}
    pickles = [p for data in members.values() if data[:4] == b"PK\x03\x04" for p in torch_zip_pickles(data)]
    pickles += [data for name, data in members.items() if name.endswith(".pkl")]
    if not pickles:
        raise ValueError(f"no checkpoint or data.pkl in {sorted(members)}")
    return pickles


def _proto_fields(data):
    """(field number, wire type, value) of one protobuf message level: varints and byte strings."""
    pos = 0

    def varint():
        nonlocal pos
        shift = value = 0
        while True:
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value
    while pos < len(data):
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            yield number, wire, varint()
        elif wire == 2:
            n = varint()
            yield number, wire, data[pos:pos + n]
            pos += n
        else:
            raise ValueError(f"unexpected wire type {wire}")


def savedmodel_layers(path):
    """The layer metadata JSON of keras_metadata.pb (SavedMetadata.nodes[].metadata)."""
    with open(os.path.join(path, "keras_metadata.pb"), "rb") as f:
        data = f.read()
    if not os.path.isfile(os.path.join(path, "saved_model.pb")):
        raise ValueError("no saved_model.pb")
    return [json.loads(meta) for number, _, node in _proto_fields(data) if number == 1
            for field, _, meta in _proto_fields(node) if field == 5]


def savedmodel_lambda_names(path):
    import marshal
    names = set()
    for layer in savedmodel_layers(path):
        if layer.get("class_name") == "Lambda":
            code = marshal.loads(base64.decodebytes(layer["config"]["function"][0].encode()))
            names |= set(code.co_names)
    return names


def keras_lambda_names(path):
    """co_names of the Lambda layer's marshalled code (decoding a code object runs nothing)."""
    import h5py
    import marshal
    with h5py.File(path, "r") as f:
        config = json.loads(f.attrs["model_config"])
        if "model_weights" not in f:
            raise ValueError("no model_weights group")
    names = set()
    for layer in config["config"]["layers"]:
        if layer["class_name"] == "Lambda":
            code = marshal.loads(base64.decodebytes(layer["config"]["function"][0].encode()))
            names |= set(code.co_names)
    if not names and "Lambda" not in json.dumps(config):
        raise ValueError("no Lambda layer")
    return names


def imports_of(path, fmt):
    """What a file would import/call on load, found statically. Raises on malformed files."""
    if fmt == "savedmodel":  # a directory
        return [f"lambda.{n}" for n in savedmodel_lambda_names(path)]
    data = open(path, "rb").read()
    if fmt in ("pickle", "dill", "paddle"):
        return pickle_globals(data)[0]
    if fmt in ("pytorch-zip", "torchscript"):
        return [g for p in torch_zip_pickles(data) for g in pickle_globals(p)[0]]
    if fmt == "pytorch-legacy":
        return legacy_globals(data)
    if fmt == "joblib":
        return joblib_globals(data)
    if fmt == "numpy-npy":
        return npy_pickle_globals(data)
    if fmt == "numpy-npz":
        return npz_globals(data)
    if fmt == "7z-pytorch":
        return [g for p in sevenz_pickles(path) for g in pickle_globals(p)[0]]
    if fmt == "keras-h5":
        return [f"lambda.{n}" for n in keras_lambda_names(path)]
    raise ValueError(f"unknown format {fmt}")


def looks_dangerous(globs, fmt):
    if fmt in ("keras-h5", "savedmodel"):
        return any(g.split(".", 1)[1] in DANGEROUS_CODE_NAMES for g in globs)
    return any(is_dangerous(g) for g in globs)


# --- loading benign samples -----------------------------------------------------------------

LOADER = r"""
import io, sys, zipfile
path, fmt = sys.argv[1], sys.argv[2]
if fmt == "pickle":
    import pickle; pickle.load(open(path, "rb"))
elif fmt == "paddle":
    import pickle; pickle.load(open(path, "rb"), encoding="latin1")
elif fmt == "dill":
    import dill; f = dill.load(open(path, "rb")); f(3) if callable(f) else None
elif fmt in ("pytorch-zip", "pytorch-legacy"):
    import torch; torch.load(path)
elif fmt == "torchscript":
    import torch; torch.jit.load(path)(torch.ones(1, 4))
elif fmt == "joblib":
    import joblib; joblib.load(path)
elif fmt in ("numpy-npy", "numpy-npz"):
    import numpy as np; r = np.load(path, allow_pickle=True); [r[k] for k in r.files] if fmt == "numpy-npz" else r
elif fmt == "7z-pytorch":
    import py7zr, torch
    members = {name: bio.read() for name, bio in py7zr.SevenZipFile(path).readall().items()}
    checkpoints = [data for data in members.values() if data[:4] == b"PK\x03\x04"]
    if not checkpoints:  # members stored directly: rebuild the zip torch expects
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            for name, data in members.items():
                z.writestr(name, data)
        checkpoints = [buf.getvalue()]
    for data in checkpoints:
        torch.load(io.BytesIO(data))
elif fmt == "keras-h5":
    # What Keras does: base64 -> marshal -> FunctionType, called when the layer is built.
    import base64, json, marshal, types, h5py, numpy as np
    config = json.loads(h5py.File(path, "r").attrs["model_config"])
    for layer in config["config"]["layers"]:
        if layer["class_name"] == "Lambda":
            code = marshal.loads(base64.decodebytes(layer["config"]["function"][0].encode()))
            types.FunctionType(code, {"__builtins__": __builtins__})(np.ones((1, 2)))
elif fmt == "savedmodel":
    # The same revival from the layer metadata in keras_metadata.pb.
    import base64, json, marshal, types, numpy as np
    sys.path.insert(0, sys.argv[3])
    from check import savedmodel_layers
    for layer in savedmodel_layers(path):
        if layer.get("class_name") == "Lambda":
            code = marshal.loads(base64.decodebytes(layer["config"]["function"][0].encode()))
            types.FunctionType(code, {"__builtins__": __builtins__})(np.ones((1, 2)))
print("loaded")
"""


def load_benign(path, fmt):
    here = os.path.dirname(os.path.abspath(__file__))
    r = subprocess.run([sys.executable, "-c", LOADER, path, fmt, here], capture_output=True, text=True, timeout=120)
    return r.returncode == 0 and r.stdout.strip().endswith("loaded"), r.stderr.strip().splitlines()[-1:] or [""]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir")
    ap.add_argument("--load-benign", action="store_true")
    args = ap.parse_args()
    rows = [json.loads(line) for line in open(os.path.join(args.dir, "manifest.jsonl")) if line.strip()]
    problems, by_label, by_format = [], {}, {}
    for row in rows:
        missing = [k for k in FIELDS if not isinstance(row.get(k), str) or not row[k]]
        if missing or row["format"] not in FORMATS:
            problems.append(f"{row.get('file')}: bad row {missing or row['format']}")
            continue
        by_label[row["label"]] = by_label.get(row["label"], 0) + 1
        by_format[row["format"]] = by_format.get(row["format"], 0) + 1
        path = os.path.join(args.dir, row["file"])
        if not (os.path.isdir(path) if row["format"] == "savedmodel" else os.path.isfile(path)):
            problems.append(f"{row['file']}: missing")
            continue
        if row["file"].startswith("benign/library/") or "/formats/" in row["file"]:
            # Written by the real libraries as their users save them (library.py): compressed
            # to_pickle streams, stand-ins' files for libraries this machine lacks on purpose.
            # Their check is the e2e run through the jail (every one must be benign).
            continue
        try:
            globs = imports_of(path, row["format"])
            if row["technique"] in BROKEN:
                problems.append(f"{row['file']}: meant to be truncated, but parses")
        except Exception as e:  # noqa: BLE001 - any parse failure is a finding
            if row["technique"] not in BROKEN:
                problems.append(f"{row['file']}: malformed ({type(e).__name__}: {e})")
            continue
        dangerous = looks_dangerous(globs, row["format"])
        if row["label"] == "benign" and dangerous:
            problems.append(f"{row['file']}: benign but imports {[g for g in globs if is_dangerous(g)] or globs}")
        # In-memory tampering (Sleepy Pickle) needs no dangerous import: that is its point.
        quiet_tamper = row["label"] == "suspicious" and row["technique"].startswith("tamper")
        if row["label"] != "benign" and not dangerous and not quiet_tamper:
            problems.append(f"{row['file']}: {row['label']} but imports nothing dangerous: {globs}")
        if args.load_benign and row["label"] == "benign" and not dangerous:
            ok, why = load_benign(path, row["format"])
            if not ok:
                problems.append(f"{row['file']}: benign sample failed to load: {why[0]}")
    print(f"{len(rows)} samples; by label: {json.dumps(by_label, sort_keys=True)}")
    print(f"by format: {json.dumps(by_format, sort_keys=True)}")
    for p in problems:
        print("PROBLEM:", p)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
