"""Hub-sized torch checkpoints: the tensor storages of a zip checkpoint are mapped from the file,
not copied into memory.

torch 1.13's torch.load runs serialization._load over a PyTorchFileReader; for each storage the
pickle names, _load calls reader.get_storage_from_record(name, nbytes, torch.UntypedStorage),
which reads the whole zip member into a fresh buffer. torch.save writes every storage as a STORED
(uncompressed), 64-byte-aligned member, so its bytes sit in the file as they are. While
load_torch runs, serialization._open_zipfile_reader builds a subclass of PyTorchFileReader whose
get_storage_from_record returns a slice of one private (copy-on-write) mapping of the whole file
instead: the same bytes, paged in by the kernel only when something reads them. Everything else,
the pickle above all, runs exactly as torch runs it: same _load, same UnpicklerWrapper, same
find_class and persistent_load calls, in the same order.

The mapping is made when the reader is opened, before the pickle runs, with torch.from_file
(MAP_PRIVATE; no audit event, so nothing of ours is attributed to the file). A member that is
compressed, encrypted, misaligned, duplicated, of another size than the pickle asks for, or
beyond the file falls back to torch's own read, as does everything when the mapping fails.
"""
import os
import resource
import struct
import zipfile

ALIGNMENT = 64
MAX_REASONS = 8
LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")


class Stats:
    """What one torch.load materialised: storages mapped from the file vs read into memory."""

    def __init__(self):
        self.format = "legacy"  # until a zip reader is opened: torch's legacy loader reads every storage
        self.storages = self.mapped = self.read = 0
        self.bytes_mapped = self.bytes_read = 0
        self.fallback = {}  # why a storage was read: count

    def note_read(self, nbytes, reason):
        self.storages += 1
        self.read += 1
        self.bytes_read += nbytes
        if reason in self.fallback or len(self.fallback) < MAX_REASONS:
            self.fallback[reason] = self.fallback.get(reason, 0) + 1

    def note_mapped(self, nbytes):
        self.storages += 1
        self.mapped += 1
        self.bytes_mapped += nbytes

    def fields(self):
        return {"event": "modelvet.materialisation", "format": self.format, "storages": self.storages,
                "mapped": self.mapped, "read": self.read, "bytes_mapped": self.bytes_mapped,
                "bytes_read": self.bytes_read, "fallback": dict(self.fallback),
                "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


class _PreadFile:
    """A file object over pread: zipfile reads the central directory without moving the offset
    of the file torch's reader reads through."""

    def __init__(self, fd):
        self.fd, self.pos, self.size = fd, 0, os.fstat(fd).st_size

    def seekable(self):
        return True

    def seek(self, offset, whence=0):
        self.pos = offset if whence == 0 else self.pos + offset if whence == 1 else self.size + offset
        return self.pos

    def tell(self):
        return self.pos

    def read(self, n=-1):
        n = self.size - self.pos if n is None or n < 0 else n
        data = os.pread(self.fd, max(0, n), self.pos)
        self.pos += len(data)
        return data


class _Layout:
    """Where each STORED member's bytes start in the file, as miniz (torch's zip reader) finds
    them: the archive folder is the first entry's, the data follows the local header."""

    def __init__(self, fd):
        self.prefix, self.offsets, self.reasons = "", {}, {}
        raw = _PreadFile(fd)
        self.size = raw.size
        with zipfile.ZipFile(raw) as archive:
            infos = archive.infolist()
        if not infos or "/" not in infos[0].filename:
            return
        self.prefix = infos[0].filename.split("/", 1)[0] + "/"
        self.torchscript = any(i.filename == self.prefix + "constants.pkl" for i in infos)
        seen = {}
        for info in infos:
            seen[info.filename] = seen.get(info.filename, 0) + 1
        for info in infos:
            name = info.filename
            if seen[name] > 1:
                self.reasons[name] = "duplicate member"
            elif info.compress_type != zipfile.ZIP_STORED or info.compress_size != info.file_size:
                self.reasons[name] = "compressed member"
            elif info.flag_bits & 0x1:
                self.reasons[name] = "encrypted member"
            else:
                self._locate(fd, info)

    def _locate(self, fd, info):
        head = os.pread(fd, LOCAL_HEADER.size, info.header_offset)
        if len(head) != LOCAL_HEADER.size:
            self.reasons[info.filename] = "bad local header"
            return
        sig, _, flags, method, _, _, _, _, _, name_len, extra_len = LOCAL_HEADER.unpack(head)
        local_name = os.pread(fd, name_len, info.header_offset + LOCAL_HEADER.size)
        start = info.header_offset + LOCAL_HEADER.size + name_len + extra_len
        if sig != b"PK\x03\x04" or method != 0 or flags & 0x1 or local_name != info.orig_filename.encode("utf-8", "replace"):
            self.reasons[info.filename] = "bad local header"
        elif start % ALIGNMENT:
            self.reasons[info.filename] = "misaligned member"
        elif start + info.file_size > self.size:
            self.reasons[info.filename] = "member beyond the file"
        else:
            self.offsets[info.filename] = (start, info.file_size)


def install(torch, stats):
    """Points torch.serialization._open_zipfile_reader at the mapping reader; returns the undo."""
    serialization = torch.serialization
    original = serialization._open_zipfile_reader
    base = torch._C.PyTorchFileReader

    class PyTorchFileReader(base):
        def __init__(self, name_or_buffer):
            super().__init__(name_or_buffer)
            self._mv_layout, self._mv_whole, self._mv_why = None, None, "no file descriptor"
            try:
                fd = name_or_buffer.fileno()
                path = getattr(name_or_buffer, "name", None)
                if not isinstance(path, str):
                    raise OSError("no path")
                self._mv_layout = _Layout(fd)
                before, size = os.fstat(fd), self._mv_layout.size
                if size > 0:
                    # MAP_PRIVATE: writes to a tensor copy its page, never reach the (read-only) file.
                    self._mv_whole = torch.from_file(path, shared=False, size=size, dtype=torch.uint8).storage().untyped()
                after = os.stat(path)
                if (after.st_dev, after.st_ino, after.st_size) != (before.st_dev, before.st_ino, before.st_size):
                    self._mv_whole, self._mv_why = None, "file changed under the reader"
                stats.format = "torchscript" if self._mv_layout.torchscript else "zip"
            except Exception as error:  # a buffer, a broken zip (torch reports it), no address space
                self._mv_whole, self._mv_why = None, "not mapped: %s" % type(error).__name__
                stats.format = "zip"

        def get_storage_from_record(self, name, numel, data_type):
            layout, whole = self._mv_layout, self._mv_whole
            member = layout.prefix + name if layout is not None else name
            where = layout.offsets.get(member) if layout is not None and whole is not None else None
            if where is None or data_type is not torch.UntypedStorage or where[1] != numel or numel <= 0:
                why = (self._mv_why if whole is None else layout.reasons.get(member) or
                       ("empty storage" if numel == 0 else "size differs from the pickle's" if where is not None
                        else "odd record"))
                stats.note_read(max(0, int(numel)) if isinstance(numel, int) else 0, why)
                return super().get_storage_from_record(name, numel, data_type)
            start, nbytes = where
            # As torch's own: an empty uint8 tensor over an untyped storage of exactly nbytes.
            storage = whole[start:start + nbytes]
            stats.note_mapped(nbytes)
            return torch.empty(0, dtype=torch.uint8).set_(
                torch.storage.TypedStorage(wrap_storage=storage, dtype=torch.uint8), 0, (0,))

    PyTorchFileReader.__module__ = base.__module__
    PyTorchFileReader.__qualname__ = base.__qualname__

    class _open_zipfile_reader(serialization._opener):
        def __init__(self, name_or_buffer):
            super().__init__(PyTorchFileReader(name_or_buffer))

    _open_zipfile_reader.__module__ = original.__module__
    _open_zipfile_reader.__qualname__ = original.__qualname__
    serialization._open_zipfile_reader = _open_zipfile_reader

    def undo():
        # Only ours: a payload's own replacement stays for the tamper check to see.
        if serialization._open_zipfile_reader is _open_zipfile_reader:
            serialization._open_zipfile_reader = original

    return undo
