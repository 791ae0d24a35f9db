"""Model file containers around a pickle (or a marshalled function): torch zip and legacy
checkpoints, zip header tampering, 7z wrapping, Keras HDF5. Writing only: nothing here loads.
"""
import base64
import io
import json
import marshal
import os
import pickle
import struct
import tempfile
import zipfile

# Fixed timestamps make the corpus byte-for-byte reproducible.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
FILE_EPOCH = 315532800  # 1980-01-01T00:00:00Z, for files py7zr stats

# --- PyTorch zip checkpoints -------------------------------------------------------------


def torch_zip_members(checkpoint):
    """[(name, bytes)] of a zip checkpoint written by torch.save, in archive order."""
    with zipfile.ZipFile(io.BytesIO(checkpoint)) as z:
        return [(i.filename, z.read(i.filename)) for i in z.infolist()]


def data_pkl_name(members):
    return next(name for name, _ in members if name.endswith("/data.pkl"))


def write_zip(members):
    """A stored (uncompressed) zip of [(name, bytes)] with fixed timestamps. torch's reader
    (miniz) accepts it like its own output."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for name, data in members:
            z.writestr(zipfile.ZipInfo(name, ZIP_EPOCH), data)
    return out.getvalue()


def replace_member(members, name, data):
    return [(n, data if n == name else d) for n, d in members]


def _zip_headers(buf, name):
    """Offsets of the local (PK\\3\\4) and central (PK\\1\\2) headers naming `name`."""
    target = name.encode()
    local, central = [], []
    i = buf.find(b"PK\x03\x04")
    while i >= 0:
        n = struct.unpack_from("<H", buf, i + 26)[0]
        if bytes(buf[i + 30:i + 30 + n]) == target:
            local.append(i)
        i = buf.find(b"PK\x03\x04", i + 4)
    i = buf.find(b"PK\x01\x02")
    while i >= 0:
        n = struct.unpack_from("<H", buf, i + 28)[0]
        if bytes(buf[i + 46:i + 46 + n]) == target:
            central.append(i)
        i = buf.find(b"PK\x01\x02", i + 4)
    if len(local) != 1 or len(central) != 1:
        raise ValueError(f"{name}: expected one local and one central header")
    return local[0], central[0]


def corrupt_crc(zip_bytes, name, crc=0xDEADBEEF):
    """Wrong CRC-32 for one member in both headers. Python's zipfile (and scanners built on it)
    raise BadZipFile on read; torch's miniz reader does not check CRCs and loads it."""
    buf = bytearray(zip_bytes)
    local, central = _zip_headers(buf, name)
    struct.pack_into("<I", buf, local + 14, crc)
    struct.pack_into("<I", buf, central + 16, crc)
    return bytes(buf)


def set_flag_bits(zip_bytes, name, bits):
    """OR general-purpose flag bits into one member's local and central headers."""
    buf = bytearray(zip_bytes)
    local, central = _zip_headers(buf, name)
    struct.pack_into("<H", buf, local + 6, struct.unpack_from("<H", buf, local + 6)[0] | bits)
    struct.pack_into("<H", buf, central + 8, struct.unpack_from("<H", buf, central + 8)[0] | bits)
    return bytes(buf)


# --- PyTorch legacy (pre-1.6, non-zip) checkpoints: magic, version, sys_info, object and
# storage-key pickles, then raw storages ---------------------------------------------------

def split_pickles(data, count):
    """Offsets [(start, end)] of the first `count` pickle streams concatenated in data."""
    import pickletools
    stream, spans = io.BytesIO(data), []
    for _ in range(count):
        start = stream.tell()
        for op, _, _ in pickletools.genops(stream):
            if op.name == "STOP":
                break
        spans.append((start, stream.tell()))
    return spans


def renumber_legacy_keys(data, element_size=4):
    """torch's legacy format names storages by memory address and writes them in the sorted
    order of those names, so two runs differ. Renames them 0, 1, ... in order of first use in
    the object pickle and writes the key list and the raw storages (int64 element count, then
    the elements) in that order, so the file is reproducible. The key list is a pickle of plain
    strings this generator just wrote. All storages must have element_size-byte elements."""
    spans = split_pickles(data, 5)
    obj = data[spans[3][0]:spans[3][1]]
    keys_start, keys_end = spans[4]
    keys = pickle.loads(data[keys_start:keys_end])

    def binunicode(s):
        return b"X" + struct.pack("<I", len(s)) + s.encode()

    blobs, pos = {}, keys_end
    for key in keys:
        (count,) = struct.unpack_from("<q", data, pos)
        end = pos + 8 + count * element_size
        blobs[key], pos = data[pos:end], end
    if pos != len(data) or any(binunicode(k) not in obj for k in keys):
        raise ValueError("unexpected legacy checkpoint layout")
    order = sorted(keys, key=lambda k: obj.index(binunicode(k)))
    for i, key in enumerate(order):
        obj = obj.replace(binunicode(key), binunicode(str(i)))
    new_keys = pickle.dumps([str(i) for i in range(len(order))], protocol=2)
    return data[:spans[3][0]] + obj + new_keys + b"".join(blobs[k] for k in order)


# --- 7z -----------------------------------------------------------------------------------


def write_7z(path, members):
    """A 7z archive of [(arcname, bytes)] (py7zr reads files from disk: stage them with a
    fixed mtime so the archive is reproducible)."""
    import py7zr
    with tempfile.TemporaryDirectory(prefix="mv-corpus-7z-") as stage:
        with py7zr.SevenZipFile(path, "w") as archive:
            for arcname, data in members:
                staged = os.path.join(stage, arcname.replace("/", "_"))
                with open(staged, "wb") as f:
                    f.write(data)
                os.utime(staged, (FILE_EPOCH, FILE_EPOCH))
                archive.write(staged, arcname)


# --- Keras 2 HDF5 ------------------------------------------------------------------------


def lambda_code(source, filename):
    """The code object of the lambda in `source`, e.g. "lambda x: x * 2.0". compile() only
    translates the text: the module-level code that would create the lambda is not run; the
    lambda's own code object is taken from its constants."""
    module = compile(source, filename, "eval")
    return next(c for c in module.co_consts if hasattr(c, "co_code"))


def keras_func_dump(code):
    """keras.utils.generic_utils.func_dump: base64 of the marshalled code, defaults, closure."""
    raw = marshal.dumps(code)
    return [base64.encodebytes(raw).decode("ascii"), None, None]


def keras_sequential_config(lambda_function, units=2, inputs=4):
    layers = [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, inputs], "dtype": "float32",
                                                "sparse": False, "ragged": False, "name": "dense_input"}},
        {"class_name": "Dense", "config": {
            "name": "dense", "trainable": True, "dtype": "float32", "batch_input_shape": [None, inputs],
            "units": units, "activation": "linear", "use_bias": True,
            "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
            "bias_initializer": {"class_name": "Zeros", "config": {}},
            "kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
            "kernel_constraint": None, "bias_constraint": None}},
        {"class_name": "Lambda", "config": {
            "name": "lambda", "trainable": True, "dtype": "float32", "function": lambda_function,
            "function_type": "lambda", "module": "__main__", "output_shape": None,
            "output_shape_type": "raw", "output_shape_module": None, "arguments": {}}},
    ]
    return {"class_name": "Sequential", "config": {"name": "sequential", "layers": layers}}


def _h5_group(parent, name):
    """A group without modification times (HDF5 stores them by default; the corpus is
    reproducible)."""
    import h5py
    from h5py import h5g, h5p
    gcpl = h5p.create(h5p.GROUP_CREATE)
    gcpl.set_obj_track_times(False)
    return h5py.Group(h5g.create(parent.id, name.encode(), gcpl=gcpl))


def write_keras_h5(path, lambda_source, rng, filename="build_model.py"):
    """What Keras 2's save_model_to_hdf5 writes for Sequential(Dense(2), Lambda(f)): root
    attributes keras_version, backend, model_config (JSON, bytes) and the model_weights group
    (one subgroup per layer, weight_names attributes, datasets layer/name:0)."""
    import h5py
    import numpy as np
    from h5py import h5f, h5p
    config = keras_sequential_config(keras_func_dump(lambda_code(lambda_source, filename)))
    kernel = rng.standard_normal((4, 2)).astype("float32")
    bias = np.zeros(2, dtype="float32")
    fcpl = h5p.create(h5p.FILE_CREATE)
    fcpl.set_obj_track_times(False)
    with h5py.File(h5f.create(os.fsencode(path), h5f.ACC_TRUNC, fcpl=fcpl)) as f:
        f.attrs["backend"] = "tensorflow"
        f.attrs["keras_version"] = "2.12.0"
        f.attrs["model_config"] = json.dumps(config).encode("utf8")
        weights = _h5_group(f, "model_weights")
        weights.attrs["backend"] = b"tensorflow"
        weights.attrs["keras_version"] = b"2.12.0"
        weights.attrs["layer_names"] = np.array([b"dense", b"lambda"])
        dense = _h5_group(weights, "dense")
        dense.attrs["weight_names"] = np.array([b"dense/kernel:0", b"dense/bias:0"])
        inner = _h5_group(dense, "dense")
        inner.create_dataset("kernel:0", data=kernel, track_times=False)
        inner.create_dataset("bias:0", data=bias, track_times=False)
        lam = _h5_group(weights, "lambda")
        lam.attrs["weight_names"] = np.array([], dtype="S1")


def _varint(n):
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _proto_field(number, payload):
    """A length-delimited protobuf field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def write_savedmodel_dir(path, lambda_source, filename="build_model.py"):
    """A Keras SavedModel directory as tf.keras.models.save_model writes it for
    Sequential(Dense, Lambda(f)): keras_metadata.pb is a SavedMetadata protobuf whose nodes carry
    each layer's metadata JSON (the Lambda's marshalled function inside), saved_model.pb the
    MetaGraph (here a minimal stand-in holding the same Keras metadata, as TF 2.x also stores
    it there), and variables/. TensorFlow is not packaged on Debian, so the graph itself is
    not reproduced; the Keras layer metadata, which is what revives code at load, is."""
    os.makedirs(os.path.join(path, "variables"), exist_ok=True)
    config = keras_sequential_config(keras_func_dump(lambda_code(lambda_source, filename)))
    nodes = [{"class_name": "Sequential", "name": "sequential", "config": config["config"],
              "keras_version": "2.12.0", "backend": "tensorflow"}]
    nodes += config["config"]["layers"]
    metadata = b"".join(
        _proto_field(1, _varint(2 << 3) + _varint(i + 1) + _proto_field(3, f"root.layer-{i}".encode())
                     + _proto_field(4, b"_tf_keras_layer") + _proto_field(5, json.dumps(node).encode()))
        for i, node in enumerate(nodes))
    with open(os.path.join(path, "keras_metadata.pb"), "wb") as f:
        f.write(metadata)
    meta_graph = _proto_field(1, _proto_field(1, b"serve") + _proto_field(2, b"2.12.0"))
    with open(os.path.join(path, "saved_model.pb"), "wb") as f:
        f.write(_varint(1 << 3) + _varint(1) + _proto_field(2, meta_graph))
    with open(os.path.join(path, "fingerprint.pb"), "wb") as f:
        f.write(_varint(1 << 3) + _varint(0x5a17ed))
    for name, data in (("variables.index", b"\x00" * 16), ("variables.data-00000-of-00001", b"\x00" * 64)):
        with open(os.path.join(path, "variables", name), "wb") as f:
            f.write(data)
