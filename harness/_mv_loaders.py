"""The loaders: each loads the file exactly as a victim would, with the real library where the
jail has it, or an emulation (labelled "(emulated)") where the library is not packaged.

A loader returns a list of (member, object) pairs: the loaded objects the exercise step will
then use. The unpickling itself goes through _mv_recorder (installed before these libraries
were imported), so every call made during the real load is recorded.
"""
import os
import pickle
import sys
import zipfile

import _sitehooks
import _mv_archive
import _mv_gguf
import _mv_keras
import _mv_onnx
import _mv_recorder
import _mv_torchmap

MAX_ARCHIVE_MEMBERS = 200
PICKLE_PROTOCOL_MAGIC = {b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05"}


class Loaded:
    def __init__(self, loader, library_version):
        self.loader = loader
        self.library_version = library_version
        self.objects = []  # (member, object)


def _python_version():
    return "python " + sys.version.split()[0]


def _torch_pickle_member(path):
    """The member torch.load unpickles: <archive>/data.pkl ("" for a legacy checkpoint)."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                for name in archive.namelist():
                    if name.endswith("/data.pkl") or name == "data.pkl":
                        return name
    except Exception:
        pass
    return ""


def load_pickle(path):
    result = Loaded("pickle", _python_version())
    with open(path, "rb") as f:
        result.objects.append(("", pickle.load(f)))
    return result


def load_paddle(path):
    """paddle.load on .pdparams/.pdmodel: pickle with encoding='latin1' (paddle/framework/io.py)."""
    result = Loaded("paddle (emulated)", "pickle latin1, " + _python_version())
    with open(path, "rb") as f:
        result.objects.append(("", pickle.load(f, encoding="latin1")))
    return result


def load_torch(path, container=""):
    import torch

    result = Loaded("torch", torch.__version__)
    inner = _torch_pickle_member(path)
    _mv_recorder.set_member(":".join(m for m in (container, inner) if m))
    # torch 1.13's defaults: weights_only=False; a victim without a GPU passes map_location cpu.
    # The storages of a zip checkpoint are mapped from the file, not read (_mv_torchmap); what was
    # and was not materialised is stated after the load, whatever the load did.
    stats = _mv_torchmap.Stats()
    undo = _mv_torchmap.install(torch, stats)
    try:
        result.objects.append(("", torch.load(path, map_location="cpu")))
    finally:
        undo()
        _sitehooks.emit("audit", dict(stats.fields(), member=":".join(m for m in (container, inner) if m)))
    return result


def load_joblib(path):
    import joblib

    result = Loaded("joblib", joblib.__version__)
    result.objects.append(("", joblib.load(path)))
    return result


def load_dill(path):
    import dill

    result = Loaded("dill", dill.__version__)
    with open(path, "rb") as f:
        result.objects.append(("", dill.load(f)))
    return result


def load_numpy(path):
    import numpy

    result = Loaded("numpy", numpy.__version__)
    loaded = numpy.load(path, allow_pickle=True)
    if isinstance(loaded, numpy.lib.npyio.NpzFile):
        with loaded:
            for member in loaded.files:  # npz members load lazily: a victim touches each one
                _mv_recorder.set_member(member)
                result.objects.append((member, loaded[member]))
    else:
        result.objects.append(("", loaded))
    return result


def _one_object(label, load, path):
    """An emulated or partly real load that yields one summary object and the library's version."""
    obj, version = load(path)
    result = Loaded(label, version)
    result.objects.append(("", obj))
    return result


def load_keras_h5(path):
    return _one_object("keras-h5 (emulated)", _mv_keras.load_keras, path)


def load_savedmodel(path):
    return _one_object("savedmodel (emulated)", _mv_keras.load_savedmodel, path)


def load_gguf(path):
    """llama-cpp-python: metadata read (emulated llama.cpp), chat template rendered with jinja2 (real)."""
    return _one_object("gguf (chat template rendered with real jinja2; llama.cpp load emulated: metadata read, "
                       "tensors not loaded)", _mv_gguf.load_gguf, path)


def load_onnx(path):
    """onnx.load(path) with the real onnx; custom-op library registration emulated."""
    return _one_object("onnx (real onnx.load; custom-op library registration emulated: onnxruntime is not packaged)",
                       _mv_onnx.load_onnx, path)


def _sniff_member(path):
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError:
        return None
    if head.startswith(b"PK\x03\x04"):
        return "torch" if _torch_pickle_member(path) else "numpy-zip" if path.endswith(".npz") else None
    if head.startswith(b"\x93NUMPY"):
        return "numpy"
    if head[:2] in PICKLE_PROTOCOL_MAGIC:
        return "pickle"
    return None


def load_7z(path):
    """A victim extracts the archive (py7zr) and loads the checkpoint inside with torch.load;
    every other member that is a pickle (by magic bytes) is unpickled too."""
    import tempfile

    import py7zr

    result = Loaded("7z", "py7zr " + py7zr.__version__)
    scratch = tempfile.mkdtemp(prefix="modelvet-7z-")
    with py7zr.SevenZipFile(path, mode="r") as archive:
        archive.extractall(path=scratch)
    members = []
    for root, _dirs, files in os.walk(scratch):
        for name in sorted(files):
            members.append(os.path.join(root, name))
    first_error, kinds = None, set()
    for member_path in sorted(members)[:MAX_ARCHIVE_MEMBERS]:
        member = os.path.relpath(member_path, scratch)
        kind = _sniff_member(member_path)
        if kind is None:
            continue
        _mv_recorder.set_member(member)
        try:
            if kind == "torch":
                inner = load_torch(member_path, container=member)
            elif kind == "pickle":
                inner = load_pickle(member_path)
            else:
                inner = load_numpy(member_path)
        except BaseException as error:  # noqa: BLE001 (a payload may raise anything)
            first_error = first_error or error
            continue
        kinds.add(inner.loader)
        result.objects.extend((member, obj) for _, obj in inner.objects)
    if kinds:
        result.loader = "7z+" + ("torch" if "torch" in kinds else sorted(kinds)[0])
    if first_error is not None:
        raise first_error
    return result


def _load_member(loader_id, path, member):
    if loader_id == "torch":
        return load_torch(path, container=member)
    return LOADERS[loader_id](path)


def load_archive(path):
    """tar / tar.gz / .nemo / zips of models (nested too): extracted as the victim's tool does,
    each model member loaded by content (harness/_mv_archive.py)."""
    result = Loaded("archive", _python_version())
    return _mv_archive.load_archive(path, _load_member, result)


# --- the globals a file names, read without running it (for the library pre-import) ---------
MAX_SCAN_BYTES = 256 << 20
MAX_SCAN_OPS = 2_000_000
_STRING_OPS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "STRING", "BINSTRING", "SHORT_BINSTRING"}


def _decompressed(data):
    """joblib's and pandas' compressed pickles: zlib, gzip, bz2, xz/lzma (bounded)."""
    import bz2
    import gzip
    import lzma
    import zlib
    try:
        if data[:2] == b"\x1f\x8b":
            return gzip.GzipFile(fileobj=__import__("io").BytesIO(data)).read(MAX_SCAN_BYTES)
        if data[:3] == b"BZh":
            return bz2.BZ2Decompressor().decompress(data, MAX_SCAN_BYTES)
        if data[:6] == b"\xfd7zXZ\x00" or data[:1] == b"\x5d":
            return lzma.LZMADecompressor().decompress(data, MAX_SCAN_BYTES)
        if data[:1] == b"\x78":
            return zlib.decompressobj().decompress(data, MAX_SCAN_BYTES)
    except Exception:
        return None
    return None


def _pickle_streams(path):
    """The pickle byte streams a file holds: the file itself, zip members (.pkl, .npy with
    object arrays), a compressed stream, the pickle after an .npy header."""
    try:
        if os.path.isdir(path):
            return []
        if zipfile.is_zipfile(path):
            out = []
            with zipfile.ZipFile(path) as archive:
                for info in archive.infolist()[:MAX_ARCHIVE_MEMBERS]:
                    if info.filename.endswith((".pkl", ".npy")) and info.file_size <= MAX_SCAN_BYTES:
                        out.extend(_stream_of(archive.read(info)))
            return out
        with open(path, "rb") as f:
            data = f.read(MAX_SCAN_BYTES)
        return _stream_of(data)
    except Exception:
        return []


def _stream_of(data):
    if data.startswith(b"\x93NUMPY"):
        try:
            import io as _io
            import numpy
            f = _io.BytesIO(data)
            version = numpy.lib.format.read_magic(f)
            numpy.lib.format._read_array_header(f, version)
            return [data[f.tell():]]
        except Exception:
            return []
    inner = _decompressed(data)
    return [inner] if inner else [data]


def named_modules(path):
    """Modules named by the GLOBAL / INST / STACK_GLOBAL opcodes of the file's pickles (pickletools
    only parses: nothing is resolved or run). STACK_GLOBAL's operands are the last two strings
    pushed, directly or from the memo."""
    import pickletools
    modules = []
    for data in _pickle_streams(path):
        # joblib writes numpy arrays' raw bytes between pickle ops: scan from each restart point.
        strings, memo, ops = [], {}, 0
        try:
            for op, arg, _pos in pickletools.genops(data):
                ops += 1
                if ops > MAX_SCAN_OPS:
                    break
                name = op.name
                if name in ("GLOBAL", "INST") and isinstance(arg, str):
                    modules.append(arg.split(" ", 1)[0])
                elif name in _STRING_OPS and isinstance(arg, (str, bytes)):
                    strings.append(arg if isinstance(arg, str) else arg.decode("latin1"))
                    del strings[:-4]
                elif name == "MEMOIZE" and strings:
                    memo[len(memo)] = strings[-1]
                elif name in ("PUT", "BINPUT", "LONG_BINPUT") and strings:
                    memo[arg] = strings[-1]
                elif name in ("GET", "BINGET", "LONG_BINGET") and arg in memo:
                    strings.append(memo[arg])
                    del strings[:-4]
                elif name == "STACK_GLOBAL" and len(strings) >= 2:
                    modules.append(strings[-2])
                if len(modules) > 2000:
                    break
        except Exception:
            pass
    seen, out = set(), []
    for m in modules:
        if m not in seen:
            seen.add(m)
            out.append(m)
    return out


LOADERS = {
    "pickle": load_pickle,
    "torch": load_torch,
    "joblib": load_joblib,
    "dill": load_dill,
    "numpy": load_numpy,
    "keras-h5": load_keras_h5,
    "paddle": load_paddle,
    "savedmodel": load_savedmodel,
    "7z": load_7z,
    "archive": load_archive,
    "gguf": load_gguf,
    "onnx": load_onnx,
}

# What each loader imports during setup, before the file is read, so the library's own
# start-up (reading /proc/cpuinfo, dlopen of its .so files) is not mistaken for the sample.
SETUP_IMPORTS = {
    "pickle": ["numpy"],
    "paddle": ["numpy"],
    "torch": ["numpy", "torch"],
    "joblib": ["numpy", "joblib", "joblib.numpy_pickle"],
    "dill": ["numpy", "dill"],
    "numpy": ["numpy"],
    "keras-h5": ["numpy", "h5py"],
    "savedmodel": ["numpy"],
    "7z": ["numpy", "torch", "py7zr", "tempfile"],
    "archive": ["numpy", "torch", "joblib", "joblib.numpy_pickle", "h5py", "py7zr", "tarfile", "tempfile",
                "jinja2", "jinja2.compiler", "onnx", "onnx.external_data_helper", "onnx.numpy_helper", "ctypes"],
    "gguf": ["jinja2", "jinja2.compiler"],
    "onnx": ["numpy", "onnx", "onnx.external_data_helper", "onnx.numpy_helper", "ctypes"],
}
