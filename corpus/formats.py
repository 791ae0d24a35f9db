"""Formats victims load today, and files as they lie on disk (issue #12): archives around models
(tar, tar.gz/bz2, NeMo's .nemo, nested zips, path-traversal members), safetensors (genuine, and
pickles or zips disguised with its name), plain HDF5 data. Writing only: nothing here loads.
Trojans are the regression corpus's own spliced checkpoints (malicious.py), defanged the same way.
"""
import bz2
import gzip
import io
import json
import struct
import tarfile

import numpy as np

import containers
import malicious
import models
from catalog import Sample, bytes_writer, marker_cmd
from pickle_asm import Call, Global, assemble, inject

SH = malicious.SH
FILE_EPOCH = containers.FILE_EPOCH
NEMO_CONFIG = b"target: nemo.collections.asr.models.EncDecCTCModel\nsample_rate: 16000\n"


# --- writers ------------------------------------------------------------------------------


def tar_bytes(members, compress=""):
    """A tar of [(name, bytes)] with fixed owners and times (reproducible); gzip/bz2 on request.
    Names are stored exactly as given, `..` included: the traversal samples need that."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), FILE_EPOCH, 0o644
            archive.addfile(info, io.BytesIO(data))
    data = raw.getvalue()
    if compress == "gz":
        out = io.BytesIO()
        with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as z:
            z.write(data)
        return out.getvalue()
    if compress == "bz2":
        return bz2.compress(data)
    return data


def safetensors_bytes(tensors, metadata=None):
    """The safetensors layout, written by hand (the library is not packaged): u64 LE header
    length, a JSON header padded with spaces to 8 bytes, the tensors' bytes back to back."""
    dtypes = {np.dtype("float32"): "F32", np.dtype("float16"): "F16", np.dtype("int64"): "I64"}
    header, blobs, at = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, arr in tensors.items():
        blob = np.ascontiguousarray(arr).tobytes()
        header[name] = {"dtype": dtypes[arr.dtype], "shape": list(arr.shape), "data_offsets": [at, at + len(blob)]}
        blobs.append(blob)
        at += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def h5_data_writer(path):
    """An h5py data file as a user saves arrays: datasets, groups, attributes; no model."""
    import h5py
    r = models.rng()
    with h5py.File(path, "w", track_order=False) as f:
        f.create_dataset("features", data=r.standard_normal((16, 4)).astype("float32"))
        g = f.create_group("labels")
        g.create_dataset("train", data=np.arange(16, dtype="int64"))
        f.attrs["description"] = "training features"


# --- payload carriers ---------------------------------------------------------------------


def trojan_checkpoint(technique):
    return malicious._torch_zip_trojan(malicious.system(marker_cmd(technique)))


def trojan_pickle(technique):
    return assemble(malicious.system(marker_cmd(technique)), 2)


def trojan_joblib(technique):
    carrier = models.joblib_bytes(models.numpy_weights())
    return inject(carrier, Call(Global("subprocess", "Popen"), (["/bin/sh", "-c", marker_cmd(technique)],)))


def _sample(label, file, technique, fmt, description, evidence, data):
    write = data if callable(data) else bytes_writer(data)
    return Sample(f"{label}/formats/{file}", label, technique, fmt, description, evidence, write)


def archive_samples():
    t = "targz-torch-trojan"
    yield _sample("malicious", "checkpoint.tar.gz", t, "tar",
                  "a trojaned torch zip checkpoint inside a .tar.gz (gzip header: once sniffed as joblib and called benign)",
                  SH, tar_bytes([("model/config.json", b'{"hidden_size": 8}\n'),
                                 ("model/pytorch_model.bin", trojan_checkpoint(t))], "gz"))
    t = "nemo-weights-trojan"
    yield _sample("malicious", "asr_model.nemo", t, "nemo",
                  "a NeMo archive whose model_weights.ckpt (torch.load'ed by restore_from) is trojaned",
                  SH, tar_bytes([("./model_config.yaml", NEMO_CONFIG), ("./model_weights.ckpt", trojan_checkpoint(t)),
                                 ("./tokenizer.model", bytes(range(256)) * 4)]))
    t = "nested-zip-pickle"
    inner = containers.write_zip([("model.pkl", trojan_pickle(t))])
    yield _sample("malicious", "bundle.zip", t, "zip",
                  "a zip holding a zip holding a pickle that runs a shell command",
                  SH, containers.write_zip([("README.md", b"# bundle\n"), ("weights/inner.zip", inner)]))
    t = "tarbz2-joblib-trojan"
    yield _sample("malicious", "pipeline.tar.bz2", t, "tar",
                  "a joblib dump whose pickle calls subprocess.Popen, inside a .tar.bz2",
                  SH, tar_bytes([("pipeline/model.joblib", trojan_joblib(t))], "bz2"))
    t = "tar-slip-bashrc"
    yield _sample("malicious", "slip.tar", t, "tar",
                  "a tar whose member ../../home/alice/.bashrc overwrites the user's shell profile when extracted (tar slip)",
                  "write ~/.bashrc",
                  tar_bytes([("model.pt", models.state_dict_checkpoint()),
                             ("../../home/alice/.bashrc", f"{marker_cmd(t)}\n".encode())]))
    t = "tar-path-traversal"
    yield _sample("suspicious", "traversal.tar", t, "tar",
                  "a benign checkpoint next to a member named ../mv_slip_note.txt that leaves the extraction directory",
                  "call modelvet.archive.traversal",
                  tar_bytes([("model.pt", models.state_dict_checkpoint()), ("../mv_slip_note.txt", b"note\n")]))
    t = "tar-unverified-member"
    yield _sample("suspicious", "opaque.tar.gz", t, "tar",
                  "a benign checkpoint next to a binary member no loader here opens: the archive is not fully verified",
                  "call modelvet.archive.unverified",
                  tar_bytes([("model.pt", models.state_dict_checkpoint()),
                             ("blob.bin.enc", bytes((i * 37 + 11) % 256 for i in range(4096)))], "gz"))
    yield _sample("benign", "checkpoint.tar.gz", "targz-torch-state-dict", "tar",
                  "a torch state_dict checkpoint and its config in a .tar.gz",
                  "call torch._utils._rebuild_tensor_v2",
                  tar_bytes([("model/config.json", b'{"hidden_size": 8}\n'),
                             ("model/pytorch_model.bin", models.state_dict_checkpoint())], "gz"))
    yield _sample("benign", "asr_model.nemo", "nemo-state-dict", "nemo",
                  "a NeMo archive: config, tokenizer and a plain state_dict model_weights.ckpt",
                  "call torch._utils._rebuild_tensor_v2",
                  tar_bytes([("./model_config.yaml", NEMO_CONFIG), ("./model_weights.ckpt", models.state_dict_checkpoint()),
                             ("./tokenizer.model", bytes(range(256)) * 4)]))
    yield _sample("benign", "bundle.zip", "nested-zip-torch", "zip",
                  "a zip holding a README and a zip holding a torch checkpoint",
                  "call torch._utils._rebuild_tensor_v2",
                  containers.write_zip([("README.md", b"# bundle\n"),
                                        ("weights/inner.zip", containers.write_zip([("model.pt", models.state_dict_checkpoint())]))]))


def safetensors_samples():
    weights = {k: v.numpy() for k, v in models.tiny_state_dict().items()}
    yield _sample("benign", "model.safetensors", "safetensors-genuine", "safetensors",
                  "a genuine safetensors file (header, metadata, four tensors): benign without detonation",
                  "static safetensors: header valid, no code path",
                  safetensors_bytes(weights, {"format": "pt"}))
    t = "safetensors-disguised-pickle"
    yield _sample("malicious", "disguised_pickle.safetensors", t, "pickle",
                  "a pickle that runs a shell command, named model.safetensors", SH, trojan_pickle(t))
    t = "safetensors-disguised-torch-zip"
    yield _sample("malicious", "disguised_zip.safetensors", t, "pytorch-zip",
                  "a trojaned torch zip checkpoint named .safetensors", SH, trojan_checkpoint(t))


def data_file_samples():
    yield _sample("benign", "features.h5", "hdf5-data", "hdf5",
                  "an h5py data file (datasets, a group, an attribute), no model in it",
                  "static data file: no victim's loader runs code from it", h5_data_writer)


def samples():
    yield from archive_samples()
    yield from safetensors_samples()
    yield from data_file_samples()
