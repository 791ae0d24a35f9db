"""Anti-evasion: use the loaded object the way a victim would after loading it, so payloads
hidden behind attribute access, iteration, printing or a forward pass still run.

Bounded: depth, number of items touched, and everything guarded (a hostile object may raise).
"""
import functools
import sys
import types

import _sitehooks
import _mv_recorder

MAX_DEPTH = 4
MAX_ITEMS = 300
MAX_ATTRS = 40
MAX_TENSOR_ELEMENTS = 1 << 20
# What a victim's code reads on a loaded model whether or not the object lists it: a missing
# name goes through the class's __getattr__.
VICTIM_ATTRIBUTES = ("config", "classes_", "n_features_in_", "feature_names_in_", "vocab", "labels", "device",
                     "dtype", "num_labels", "id2label", "tokenizer", "predict_proba")


class _Walk:
    def __init__(self):
        self.items = 0
        self.seen = set()
        self.actions = []
        self.errors = 0

    def note(self, action):
        if len(self.actions) < 40:
            self.actions.append(action)


def _module_loaded(name):
    return sys.modules.get(name)


def _touch(walk, obj, depth):
    if depth > MAX_DEPTH or walk.items >= MAX_ITEMS or id(obj) in walk.seen:
        return
    if isinstance(obj, (str, bytes, bytearray, int, float, bool, type(None), dict, list, tuple, set, frozenset)):
        return _touch_one(walk, obj, depth)
    # Using an installed library's object (its predict, forward, repr) runs the library's code:
    # a library window, unless the object's state reaches code the file supplied.
    cause = _mv_recorder.object_cause(obj)
    with _mv_recorder.window(cause, "exercise %s" % _sitehooks.callable_name(type(obj))):
        _touch_one(walk, obj, depth)


def _touch_one(walk, obj, depth):
    walk.seen.add(id(obj))
    walk.items += 1
    if isinstance(obj, (str, bytes, bytearray, int, float, bool, type(None))):
        return
    torch = _module_loaded("torch")
    numpy = _module_loaded("numpy")
    try:
        if isinstance(obj, dict):
            keys = list(obj.keys())[:MAX_ITEMS]
            walk.note("dict keys (%d)" % len(keys))
            for key in keys:
                _touch(walk, obj[key], depth + 1)
        elif isinstance(obj, (list, tuple, set, frozenset)):
            walk.note("%s items (%d)" % (type(obj).__name__, len(obj)))
            for item in list(obj)[:MAX_ITEMS]:
                _touch(walk, item, depth + 1)
        elif torch is not None and isinstance(obj, torch.Tensor):
            _sum_tensor(obj, torch)
        elif torch is not None and isinstance(obj, torch.nn.Module):
            _exercise_module(walk, obj, torch)
        elif numpy is not None and isinstance(obj, numpy.ndarray):
            if obj.dtype == object:
                walk.note("object array items")
                for item in obj.flat[:MAX_ITEMS]:
                    _touch(walk, item, depth + 1)
            else:
                obj.sum()
        else:
            _touch_object(walk, obj, depth)
    except BaseException as error:  # a hostile object may raise anything, SystemExit included
        walk.errors += 1
        walk.note("%s raised %s" % (type(obj).__name__, type(error).__name__))


def _sum_tensor(tensor, torch):
    """A tensor op (its __torch_function__ and any mode a payload pushed run as for a whole-tensor
    op) over at most MAX_TENSOR_ELEMENTS of a dense tensor: a big storage mapped from the file
    (_mv_torchmap) is not paged in whole."""
    if tensor.layout != torch.strided or tensor.dim() == 0 or tensor.numel() <= MAX_TENSOR_ELEMENTS:
        return tensor.sum()
    return tensor[tuple(slice(0, max(1, int(MAX_TENSOR_ELEMENTS ** (1.0 / tensor.dim())))) for _ in range(tensor.dim()))].sum()


def _touch_object(walk, obj, depth):
    """A custom object: print it, read its public attributes and the ones victims read anyway,
    call it if it is a function, call predict() like a victim."""
    walk.note("repr/str %s" % type(obj).__name__)
    repr(obj)
    str(obj)
    if _try_call(walk, obj):
        return
    names = [n for n in dir(obj) if not n.startswith("_")][:MAX_ATTRS]
    for name in names:
        try:
            value = getattr(obj, name)
        except Exception:
            continue
        if not callable(value):
            _touch(walk, value, depth + 1)
    if not isinstance(obj, type):
        for name in VICTIM_ATTRIBUTES:
            if name not in names:
                try:
                    getattr(obj, name, None)
                except Exception:
                    pass
    _try_predict(walk, obj)


def _try_call(walk, obj):
    """A loaded function (a preprocessing lambda, a tokenizer step): a victim calls it on its data."""
    if not isinstance(obj, (types.FunctionType, functools.partial)):
        return False
    numpy = _module_loaded("numpy")
    sample = numpy.zeros((1, 4)) if numpy is not None else [0.0, 0.0, 0.0, 0.0]
    walk.note("call %s(input)" % _sitehooks.callable_name(obj))
    try:
        obj(sample)
    except Exception as error:
        walk.note("call raised %s" % type(error).__name__)
    return True


def _try_predict(walk, obj):
    """scikit-learn style estimators: predict on a zero row of the width they were fitted on."""
    numpy = _module_loaded("numpy")
    width = getattr(obj, "n_features_in_", None)
    if numpy is None or not isinstance(width, int) or not 0 < width < 100000:
        return
    for method in ("predict", "transform"):
        fn = getattr(obj, method, None)
        if callable(fn):
            walk.note("%s(zeros(1, %d))" % (method, width))
            fn(numpy.zeros((1, width)))
            return


def _dummy_inputs(module, torch):
    """Plausible inputs for a forward pass, from the first layer that tells its input width."""
    nn = torch.nn
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            yield torch.zeros(1, layer.in_features)
            return
        if isinstance(layer, nn.Conv1d):
            yield torch.zeros(1, layer.in_channels, 32)
            return
        if isinstance(layer, nn.Conv2d):
            yield torch.zeros(1, layer.in_channels, 32, 32)
            return
        if isinstance(layer, nn.Conv3d):
            yield torch.zeros(1, layer.in_channels, 8, 16, 16)
            return
        if isinstance(layer, nn.Embedding):
            yield torch.zeros(1, 8, dtype=torch.long)
            return
        if isinstance(layer, (nn.RNNBase,)):
            yield torch.zeros(1, 4, layer.input_size)
            return
    for parameter in module.parameters():
        if parameter.dim() >= 2:
            yield torch.zeros(1, parameter.shape[-1])
        break
    yield torch.zeros(1, 3, 32, 32)
    yield torch.zeros(1, 16)


def _exercise_module(walk, module, torch):
    walk.note("state_dict %s" % type(module).__name__)
    module.state_dict()
    repr(module)
    module.eval()
    with torch.no_grad():
        for dummy in _dummy_inputs(module, torch):
            try:
                module(dummy)
                walk.note("forward(%s) ok" % list(dummy.shape))
                return
            except Exception as error:
                walk.note("forward(%s) raised %s" % (list(dummy.shape), type(error).__name__))


def exercise(obj, label):
    """Touches `obj` and reports what was done as one "exercise" event."""
    walk = _Walk()
    _touch(walk, obj, 0)
    _mv_recorder.emit_window_count()
    _sitehooks.emit("exercise", {"target": label, "type": _sitehooks.callable_name(type(obj)),
                                "items_touched": walk.items, "actions": walk.actions, "errors": walk.errors})
