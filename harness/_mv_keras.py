"""Emulation of what Keras and TensorFlow do with a model's config at load time; neither is
packaged for Debian 12, so the jail cannot run them. What runs code is reproduced exactly:

* Lambda layers: the function is base64-decoded, marshal.loads'ed and made a
  types.FunctionType (keras.utils.generic_utils.func_load), then CALLED when the layer is built,
  here with a numpy array standing in for the symbolic input tensor.
* Configs naming a module function ({"module": "m", "class_name": "function", "config": "f"},
  Keras 3 serialisation; Lambda function_type "function"): m is imported, f looked up and called
  on the layer's input, as Keras does for activations and functions (before 3.9 any module:
  CVE-2025-1550).
* Functions of Keras itself, which safe_mode allows (keras.utils.get_file: CVE-2025-8747), are
  stand-ins below that do what Keras does with their arguments (get_file downloads origin into
  cache_dir/cache_subdir); Keras names with no stand-in fail the load, as a missing module would.
* Functional models (Keras 2 and 3) call each layer on its inbound node's arguments: tensors
  come from the named layers, and literal arguments (a string, a number) are passed as they are,
  which is how a config hands a module function an argument of its choosing.
"""
import binascii
import builtins
import codecs
import importlib
import json
import os
import marshal
import types
import urllib.parse
import urllib.request
import zipfile

import _sitehooks

MAX_LAYERS = 2000
MAX_SCAN_BYTES = 64 << 20
MAX_JSON_ATTEMPTS = 20000
MAX_NODES_PER_LAYER = 16
MAX_WEIGHT_BYTES = 64 << 20
_MODEL_CLASSES = {"Sequential", "Functional", "Model"}


def func_load(code, defaults=None, closure=None, globs=None):
    """keras.utils.generic_utils.func_load, line for line."""
    if isinstance(code, (tuple, list)):
        code, defaults, closure = code
        if isinstance(defaults, list):
            defaults = tuple(defaults)

    def ensure_value_to_cell(value):
        def dummy_fn():
            value  # noqa: B018  (creates the closure cell)

        cell_value = dummy_fn.__closure__[0]
        if not isinstance(value, type(cell_value)):
            return cell_value
        return value

    if closure is not None:
        closure = tuple(ensure_value_to_cell(_) for _ in closure)
    try:
        raw_code = codecs.decode(code.encode("ascii"), "base64")
    except (UnicodeEncodeError, binascii.Error):
        raw_code = code.encode("raw_unicode_escape")
    code = marshal.loads(raw_code)
    if globs is None:
        globs = {"__name__": "keras.layers.core.lambda_layer", "__builtins__": builtins}
    return types.FunctionType(code, globs, name=code.co_name, argdefs=defaults, closure=closure)


def get_file(fname=None, origin=None, untar=False, md5_hash=None, file_hash=None, cache_subdir="datasets",
             hash_algorithm="auto", extract=False, archive_format="auto", cache_dir=None, force_download=False):
    """keras.utils.get_file: origin is downloaded to cache_dir/cache_subdir/fname (cache_dir
    defaults to ~/.keras; both may be absolute or start with ~). A fname that is not a string
    (the tensor a Lambda passes first) falls back to the origin's basename, as an empty one does."""
    if not isinstance(fname, str) or not fname:
        fname = os.path.basename(urllib.parse.urlsplit(origin or "").path) or "downloaded"
    base = os.path.expanduser(cache_dir) if cache_dir else os.path.join(os.path.expanduser("~"), ".keras")
    datadir = os.path.join(base, cache_subdir or "")
    os.makedirs(datadir, exist_ok=True)
    fpath = os.path.join(datadir, fname)
    if force_download or not os.path.exists(fpath):
        urllib.request.urlretrieve(origin, fpath)
    return fpath


def _activation(numpy, name):
    table = {
        "linear": lambda x: x,
        "relu": lambda x: numpy.maximum(x, 0),
        "sigmoid": lambda x: 1 / (1 + numpy.exp(-x)),
        "tanh": numpy.tanh,
        "softmax": lambda x: numpy.exp(x) / numpy.exp(x).sum(axis=-1, keepdims=True),
    }
    return table.get(name)


def _keras_function(module, name):
    """A function of Keras itself (not packaged): the stand-in, or the load fails as Keras would
    without it."""
    import numpy

    if name == "get_file":
        return get_file
    function = _activation(numpy, name)
    if function is None:
        raise ImportError("keras function %s.%s is not emulated (Keras is not installed)" % (module, name))
    return function


def _resolve_module_function(module, name):
    """Keras 3 _retrieve_class_or_fn: import the named module, take the attribute."""
    if not isinstance(module, str) or not isinstance(name, str):
        raise TypeError("Could not locate function %r in module %r" % (name, module))
    if module == "keras" or module.startswith("keras."):
        return _keras_function(module, name)
    return getattr(importlib.import_module(module), name)


def _is_keras_tensor(value):
    return isinstance(value, dict) and value.get("class_name") == "__keras_tensor__"


class _Builder:
    """Walks layer configs in order, carrying a numpy array as the tensor flowing through."""

    def __init__(self, numpy):
        self.numpy = numpy
        self.layers = 0
        self.lambdas = 0
        self.outputs = {}  # layer name -> its output (Functional models name their inputs)

    def dummy_input(self, config):
        shape = None
        if isinstance(config, dict):
            shape = config.get("batch_input_shape") or config.get("batch_shape")
        dims = [d if isinstance(d, int) and 0 < d <= 64 else 1 for d in (shape or [None, 4])[1:]][:4]
        return self.numpy.zeros([1] + (dims or [4]), dtype="float32")

    def call(self, function, args, arguments, origin, name):
        _sitehooks.emit("call", {"callable": name, "args": _sitehooks.brepr(tuple(args)), "origin": origin, "member": "",
                                "kwargs": _sitehooks.brepr(arguments) if arguments else ""})
        out = function(*args, **arguments)
        return out if isinstance(out, self.numpy.ndarray) else None

    def node_calls(self, layer, x):
        """The (args, kwargs) each inbound node calls the layer with: Keras 3 {"args", "kwargs"}
        with __keras_tensor__ references, Keras 2 [[name, node, tensor, kwargs], ...]. Tensors
        are the named layer's output; literals pass through. Sequential layers: the running x."""
        nodes = layer.get("inbound_nodes")
        if not isinstance(nodes, list) or not nodes:
            return [((x,), {})]
        calls = []
        for node in nodes[:MAX_NODES_PER_LAYER]:
            if isinstance(node, dict):
                args = [self.resolve(a, x) for a in (node.get("args") or [])]
                kwargs = node.get("kwargs") if isinstance(node.get("kwargs"), dict) else {}
                kwargs = {k: self.resolve(v, x) for k, v in kwargs.items()}
            elif isinstance(node, list):
                args = [self.outputs.get(ref[0], x) if isinstance(ref, list) and ref else x for ref in node]
                args, kwargs = ([args[0]] if len(args) == 1 else [args]), {}
            else:
                continue
            calls.append((args or [x], kwargs))
        return calls or [((x,), {})]

    def resolve(self, value, x):
        if _is_keras_tensor(value):
            history = (value.get("config") or {}).get("keras_history") or [None]
            return self.outputs.get(history[0], x)
        if isinstance(value, list):
            return [self.resolve(v, x) for v in value[:MAX_LAYERS]]
        return value

    def lambda_function(self, config):
        """Keras Lambda._parse_function_from_config. Returns (function, kind, display name)."""
        function = config.get("function")
        function_type = config.get("function_type", "lambda")
        if isinstance(function, dict) and function.get("class_name") == "__lambda__":  # Keras 3
            inner = function.get("config", {})
            fn = func_load(inner.get("code"), inner.get("defaults"), inner.get("closure"))
            return fn, "lambda", _sitehooks.callable_name(fn)
        if isinstance(function, dict) and "module" in function:  # a serialised module function
            module, name = function["module"], function.get("config")
        elif function_type == "function" and config.get("module") and isinstance(function, str):
            module, name = config["module"], function
        elif function_type == "lambda":
            fn = func_load(function)
            return fn, "lambda", _sitehooks.callable_name(fn)
        else:
            raise ValueError("Unknown function in Lambda layer: %r" % (function,))
        return _resolve_module_function(module, name), "function", "%s.%s" % (module, name)

    def build(self, model_config, x=None):
        if isinstance(model_config, list):  # Keras 2.0 Sequential: the config is the layer list
            layers = model_config
        else:
            inner = model_config.get("config", {}) if isinstance(model_config, dict) else {}
            layers = inner.get("layers", []) if isinstance(inner, dict) else []
        for layer in layers:
            if not isinstance(layer, dict) or self.layers >= MAX_LAYERS:
                continue
            self.layers += 1
            class_name = layer.get("class_name")
            config = layer.get("config", {})
            if x is None:
                x = self.dummy_input(config)
            if class_name in _MODEL_CLASSES:
                x = self.build(layer, x)
                continue
            if not isinstance(config, dict):
                continue
            name = config.get("name", layer.get("name", "?"))
            if class_name == "Lambda":
                self.lambdas += 1
                function, kind, display = self.lambda_function(config)
                arguments = config.get("arguments") or {}
                arguments = arguments if isinstance(arguments, dict) else {}
                for args, kwargs in self.node_calls(layer, x):
                    out = self.call(function, args, dict(arguments, **kwargs),
                                    "keras Lambda layer '%s' (%s)" % (name, kind), display)
                    x = x if out is None else out
            for key, value in config.items():  # e.g. "activation": {"module": "os", "class_name": "function", ...}
                if class_name == "Lambda" and key == "function":
                    continue  # called above, on its inbound nodes
                if isinstance(value, dict) and value.get("class_name") == "function" and "module" in value:
                    module, fn_name = value["module"], value.get("config")
                    function = _resolve_module_function(module, fn_name)
                    out = self.call(function, (x,), {}, "keras %s of layer '%s'" % (key, name), "%s.%s" % (module, fn_name))
                    x = x if out is None else out
            if isinstance(name, str):
                self.outputs[name] = x
        return x


def _read_h5_config(path):
    import h5py

    with h5py.File(path, "r") as f:
        raw = f.attrs.get("model_config")
        if raw is None:
            raise ValueError("No model config found in the file at %s." % path)
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8")
        for name in ("model_weights",):  # read the weights like load_weights would
            if name in f:
                f[name].visititems(lambda _, item: item[()] if isinstance(item, h5py.Dataset) else None)
        return json.loads(raw), "h5py " + h5py.__version__


def load_keras(path):
    """keras.models.load_model on an .h5 file (or a Keras 3 .keras zip). Returns (config, version)."""
    import numpy

    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
            version = _keras3_version(archive)
            _Builder(numpy).build(config)
            _read_keras3_weights(archive)
        return config, version
    config, version = _read_h5_config(path)
    _Builder(numpy).build(config)
    return config, version


def _keras3_version(archive):
    """metadata.json's keras_version, as saving_lib records it (absent in hand-made archives)."""
    try:
        meta = json.loads(archive.read("metadata.json"))
        return "keras %s .keras archive" % meta.get("keras_version", "?")
    except (KeyError, ValueError, AttributeError):
        return ".keras archive without metadata.json"


def _read_keras3_weights(archive):
    """saving_lib._load_state after the model is built: every variable of model.weights.h5 read."""
    import io

    import h5py

    try:
        info = archive.getinfo("model.weights.h5")
    except KeyError:
        return
    if info.file_size > MAX_WEIGHT_BYTES:
        return
    with h5py.File(io.BytesIO(archive.read(info)), "r") as f:
        f.visititems(lambda _, item: item[()] if isinstance(item, h5py.Dataset) else None)


def _json_objects(data):
    """The JSON objects embedded in protobuf bytes (Keras stores layer metadata as JSON strings)."""
    text = data[:MAX_SCAN_BYTES].decode("latin-1")
    decoder = json.JSONDecoder()
    found, pos, attempts = [], 0, 0
    while attempts < MAX_JSON_ATTEMPTS:
        pos = text.find('{"', pos)
        if pos < 0:
            break
        attempts += 1
        try:
            obj, end = decoder.raw_decode(text, pos)
            found.append(obj)
            pos = end
        except ValueError:
            pos += 1
    return found


def _layer_configs(obj, out, depth=0):
    if depth > 40 or len(out) > MAX_LAYERS:
        return
    if isinstance(obj, dict):
        if obj.get("class_name") in ("Lambda",) or any(
                isinstance(v, dict) and v.get("class_name") == "function" and "module" in v
                for v in (obj.get("config") or {}).values() if isinstance(obj.get("config"), dict)):
            out.append(obj)
        for value in obj.values():
            _layer_configs(value, out, depth + 1)
    elif isinstance(obj, list):
        for value in obj:
            _layer_configs(value, out, depth + 1)


def load_savedmodel(path):
    """tf.keras.models.load_model on a SavedModel: the Keras metadata (keras_metadata.pb or the
    user_object metadata in saved_model.pb) is JSON inside the protobuf; layers that run code
    (Lambda, module functions) are revived and built as Keras would."""
    import numpy

    # A SavedModel is a directory: Keras reads keras_metadata.pb, or the metadata TF 2.x keeps
    # in saved_model.pb when it is absent; a victim may also point at one of the files.
    files = [path]
    if os.path.isdir(path):
        files = [os.path.join(path, name) for name in ("keras_metadata.pb", "saved_model.pb")
                 if os.path.isfile(os.path.join(path, name))]
    data = b""
    for name in files:
        with open(name, "rb") as f:
            data += f.read(MAX_SCAN_BYTES - len(data))
    layers, seen = [], set()
    for obj in _json_objects(data):
        found = []
        _layer_configs(obj, found)
        for layer in found:  # a layer appears in its own metadata and in its model's config
            key = json.dumps(layer, sort_keys=True, default=str)
            if key not in seen:
                seen.add(key)
                layers.append(layer)
    builder = _Builder(numpy)
    builder.build({"config": {"layers": layers}})
    return {"layers_reviving_code": len(layers)}, "protobuf scan"
