"""Archives around models: tar (plain or gzip/bzip2/xz), NeMo's `.nemo` (a tar), zips that are
not a checkpoint themselves, and archives nested in them. Each is opened the way a victim's tool
opens it (tarfile.extractall as NeMo's restore and most scripts do, zipfile for zips), then every
member that is a model is loaded by content with the real library, as that victim would reach it.

Nothing is passed over silently: a member whose name climbs out of the extraction directory is
reported (`modelvet.archive.traversal`), and one that is neither a model nor plain data, or that
failed to load, is reported as not verified (`modelvet.archive.unverified`); the policy turns
both into findings, so a container the harness did not fully understand is never `benign`.
"""
import os
import posixpath
import tarfile
import tempfile
import zipfile

import _sitehooks
import _mv_recorder

MAX_MEMBERS = 200
MAX_DEPTH = 3
HEAD_BYTES = 4096
TORCH_LEGACY_MAGIC = b"\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"
TORCH_NAMES = (".pt", ".pth", ".bin", ".ckpt", ".tar")
# Members no victim's loader runs code from: text, configs, tokenizers, images, audio, weights
# formats without a code path, ONNX external data (raw tensor bytes). (A pickle named like one is
# still a pickle: content decides first.)
DATA_EXTENSIONS = {".json", ".yaml", ".yml", ".txt", ".md", ".rst", ".cfg", ".ini", ".toml", ".csv",
                   ".tsv", ".model", ".vocab", ".spm", ".bpe", ".merges", ".tiktoken", ".png", ".jpg",
                   ".jpeg", ".gif", ".wav", ".flac", ".safetensors", ".msgpack", ".license", ".gitattributes",
                   ".data"}


def _emit(event, **fields):
    fields["event"] = event
    _sitehooks.emit("audit", fields)


def _head(path, n=HEAD_BYTES):
    with open(path, "rb") as f:
        return f.read(n)


def _is_tar(path):
    try:
        return tarfile.is_tarfile(path)
    except Exception:
        return False


def _zip_kind(path):
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except Exception:
        return "unverified", "a zip that zipfile cannot open"
    if any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
        return "torch", ""  # torch.load also dispatches TorchScript archives to torch.jit.load
    if names and all(n.endswith(".npy") for n in names):
        return "numpy", ""
    if "config.json" in names and (any(n.endswith(".h5") for n in names) or "metadata.json" in names
                                   or path.lower().endswith(".keras")):
        return "keras-h5", ""  # a Keras 3 .keras archive (its config alone is what runs code)
    return "archive", ""


def _looks_like_text(head):
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return len(head) == HEAD_BYTES  # cut in the middle of a character


def member_kind(path, name):
    """(loader id, reason) for one extracted member, by content first, then by name. Loader ids
    are those of _mv_loaders, plus "archive" (nested), "data" (nothing to load) and "unverified"."""
    head = _head(path)
    ext = os.path.splitext(name)[1].lower()
    if not head:
        return "data", "empty"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _zip_kind(path)
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return "7z", ""
    if head.startswith(b"\x93NUMPY"):
        return "numpy", ""
    if head.startswith(b"GGUF"):
        return "gguf", ""  # its chat template is rendered as llama-cpp-python would
    if ext == ".onnx":
        return "onnx", ""  # protobuf has no magic: onnx.load is what a victim calls on this name
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return ("keras-h5", "") if b"model_config" in _head(path, 1 << 20) else ("data", "HDF5 data")
    if head[:1] == b"\x80" and head[2:2 + len(TORCH_LEGACY_MAGIC)] == TORCH_LEGACY_MAGIC:
        return "torch", ""
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        if b"dill._dill" in head:
            return "dill", ""
        if b"joblib.numpy_pickle" in head or ext == ".joblib":
            return "joblib", ""
        return ("torch", "") if ext in TORCH_NAMES else ("pickle", "")
    if head.startswith(b"ZF") or (ext in (".joblib", ".z", ".pkl") and head[:1] == b"\x78"):
        return "joblib", ""
    if head.startswith((b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")):
        return ("archive", "") if _is_tar(path) else ("joblib", "")  # joblib's compressors
    if len(head) > 262 and head[257:262] == b"ustar":
        return "archive", ""
    # Protocol 0/1 pickles are ASCII: a pickle name, or text shaped like a pickle, is loaded.
    if ext in (".pkl", ".pickle", ".bin", ".pt", ".pth", ".ckpt", ".joblib", ".dill") or (
            head[:1] in (b"c", b"(", b"}", b"]", b"I", b"S", b"V", b"\x80") and head.rstrip().endswith(b".")):
        return ("torch", "") if ext in TORCH_NAMES else ("pickle", "")
    if ext in DATA_EXTENSIONS or _looks_like_text(head):
        return "data", "data (%s)" % (ext or "text")
    return "unverified", "content is no format a loader here opens"


def _escapes(name, root):
    """Does this member name land outside `root` once joined to it (absolute, or `..` climbing)?"""
    if name.startswith("/") or posixpath.isabs(name):
        return True
    target = os.path.normpath(os.path.join(root, name))
    return not (target == root or target.startswith(root + os.sep))


def _tar_traversals(archive, root):
    found = []
    for info in archive.getmembers()[:MAX_MEMBERS * 10]:
        if _escapes(info.name, root):
            found.append((info.name, "member path leaves the extraction directory"))
        elif (info.issym() or info.islnk()) and (
                info.linkname.startswith("/") or _escapes(posixpath.join(posixpath.dirname(info.name), info.linkname), root)):
            found.append((info.name, "link to %s, outside the extraction directory" % info.linkname))
    return found


def extract(path, scratch):
    """Extracts like the victim: tarfile.extractall with Python 3.11's default (no filter, as
    NeMo's restore_from and most scripts call it); zipfile's extractall (which drops `..`)."""
    if _is_tar(path):
        with tarfile.open(path, "r:*") as archive:
            for name, why in _tar_traversals(archive, scratch):
                _emit("modelvet.archive.traversal", member=name, reason=why, archive=os.path.basename(path))
            archive.extractall(path=scratch)
        return "tar"
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist()[:MAX_MEMBERS * 10]:
            if _escapes(name, scratch):
                _emit("modelvet.archive.traversal", member=name, reason="member path leaves the extraction directory",
                      archive=os.path.basename(path))
        archive.extractall(path=scratch)
    return "zip"


def _members(scratch):
    out = []
    for root, dirs, files in os.walk(scratch):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(root, name)
            if not os.path.islink(full):
                out.append(full)
    return out


def _nemo_first(members, scratch):
    """NeMo's restore_from torch.loads `model_weights.ckpt` first; the rest follow in order."""
    key = lambda p: (0 if os.path.basename(p) == "model_weights.ckpt" else 1, os.path.relpath(p, scratch))
    return sorted(members, key=key)


class Walk:
    def __init__(self, load_member):
        self.load_member = load_member  # (loader id, path, member name) -> _mv_loaders.Loaded
        self.objects, self.kinds, self.skipped = [], set(), 0
        self.first_error = None

    def unverified(self, member, reason):
        _emit("modelvet.archive.unverified", member=member, reason=reason)

    def walk(self, path, container, depth):
        scratch = tempfile.mkdtemp(prefix="modelvet-archive-")
        try:
            kind = extract(path, scratch)
        except Exception as error:  # noqa: BLE001 (hostile archives raise anything)
            self.unverified(container or os.path.basename(path), "could not be extracted: %s: %s" % (type(error).__name__, error))
            self.first_error = self.first_error or error
            return
        members = _nemo_first(_members(scratch), scratch)
        if len(members) > MAX_MEMBERS:
            self.unverified(container or os.path.basename(path), "%d members; only the first %d loaded" % (len(members), MAX_MEMBERS))
        self.kinds.add(kind)
        for member_path in members[:MAX_MEMBERS]:
            member = "/".join(m for m in (container, os.path.relpath(member_path, scratch)) if m)
            loader, reason = member_kind(member_path, member)
            if loader == "data":
                self.skipped += 1
                continue
            if loader == "unverified":
                self.unverified(member, reason)
                continue
            if loader == "archive":
                if depth + 1 >= MAX_DEPTH:
                    self.unverified(member, "archive nested deeper than %d" % MAX_DEPTH)
                else:
                    self.walk(member_path, member, depth + 1)
                continue
            _mv_recorder.set_member(member)
            try:
                inner = self.load_member(loader, member_path, member)
            except BaseException as error:  # noqa: BLE001 (a payload may raise anything)
                self.unverified(member, "%s load failed: %s: %s" % (loader, type(error).__name__, str(error)[:300]))
                self.first_error = self.first_error or error
                continue
            self.kinds.add(inner.loader)
            self.objects.extend((member, obj) for _, obj in inner.objects)


def load_archive(path, load_member, result):
    """Fills `result` (a _mv_loaders.Loaded) with every model member's loaded objects."""
    walk = Walk(load_member)
    walk.walk(path, "", 0)
    result.objects.extend(walk.objects)
    loaded = sorted(k for k in walk.kinds if k not in ("tar", "zip"))
    outer = "tar" if "tar" in walk.kinds else "zip"
    result.loader = outer + ("+" + "+".join(loaded) if loaded else "")
    result.library_version = "%s; %d data members skipped" % (result.library_version, walk.skipped)
    if walk.first_error is not None and not walk.objects:
        raise walk.first_error
    return result
