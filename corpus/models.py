"""Ordinary, harmless model objects serialized with the real libraries (torch.save, joblib.dump,
dill.dumps, numpy.save). Serializing never runs anything; these bytes are the benign samples
and the carriers trojans are spliced into. Seeds are fixed so the corpus is reproducible.
"""
import functools
import io
import pickle
import zipfile

import numpy as np

from containers import ZIP_EPOCH

SEED = 20240601


def rng():
    return np.random.default_rng(SEED)


@functools.lru_cache(maxsize=None)
def torch():
    """torch, imported once (about a second) and seeded."""
    import torch as t
    t.manual_seed(SEED)
    return t


def _torch_bytes(obj, **kwargs):
    buf = io.BytesIO()
    torch().save(obj, buf, **kwargs)
    return buf.getvalue()


def tiny_state_dict():
    t = torch()
    from collections import OrderedDict
    g = t.Generator().manual_seed(SEED)
    return OrderedDict([
        ("encoder.weight", t.randn(8, 4, generator=g)),
        ("encoder.bias", t.zeros(8)),
        ("head.weight", t.randn(2, 8, generator=g)),
        ("head.bias", t.zeros(2)),
    ])


def state_dict_checkpoint():
    """torch.save of a small state_dict (zip format): OrderedDict + _rebuild_tensor_v2."""
    return _torch_bytes(tiny_state_dict())


def state_dict_legacy_checkpoint():
    """The same state_dict in the pre-1.6 (non-zip) format."""
    from containers import renumber_legacy_keys
    return renumber_legacy_keys(_torch_bytes(tiny_state_dict(), _use_new_zipfile_serialization=False))


def parameters_checkpoint():
    """HF-style weights: nn.Parameter (→ _rebuild_parameter) in half precision."""
    t = torch()
    g = t.Generator().manual_seed(SEED + 1)
    return _torch_bytes({
        "embeddings.word_embeddings.weight": t.nn.Parameter(t.randn(16, 4, generator=g).half()),
        "classifier.weight": t.nn.Parameter(t.randn(2, 4, generator=g).half(), requires_grad=False),
        "classifier.bias": t.zeros(2, dtype=t.float16),
    })


def module_checkpoint():
    """A whole nn.Sequential saved with torch.save (pickles the module classes by name)."""
    t = torch()
    t.manual_seed(SEED)
    model = t.nn.Sequential(t.nn.Linear(4, 8), t.nn.ReLU(), t.nn.Linear(8, 2))
    return _torch_bytes(model)


def torchscript_archive():
    """torch.jit.script of a tiny module, saved: compiling and saving only, nothing is loaded."""
    t = torch()
    t.manual_seed(SEED)

    class Scale(t.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = t.nn.Linear(4, 2)

        def forward(self, x):
            return self.linear(x) * 2.0

    buf = io.BytesIO()
    t.jit.save(t.jit.script(Scale()), buf)
    return buf.getvalue()


def numpy_weights():
    r = rng()
    return {"dense/kernel": r.standard_normal((4, 3)).astype("float32"),
            "dense/bias": np.zeros(3, dtype="float32"),
            "vocab_ids": np.arange(10, dtype="int64")}


def joblib_bytes(obj, **kwargs):
    import joblib
    buf = io.BytesIO()
    joblib.dump(obj, buf, **kwargs)
    return buf.getvalue()


def sklearn_model():
    """A LogisticRegression fitted on a fixed toy problem."""
    from sklearn.linear_model import LogisticRegression
    r = rng()
    x = r.standard_normal((40, 3))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)
    return LogisticRegression(max_iter=200).fit(x, y)


def paddle_state_dict_pickle():
    """What paddle.save writes for a state_dict: protocol-4 pickle of numpy arrays plus the
    structured-name table paddle adds."""
    r = rng()
    state = {
        "linear_0.w_0": r.standard_normal((4, 2)).astype("float32"),
        "linear_0.b_0": np.zeros(2, dtype="float32"),
        "StructuredToParameterName@@": {"fc.weight": "linear_0.w_0", "fc.bias": "linear_0.b_0"},
    }
    return pickle.dumps(state, protocol=4)


def main_function(source, namespace=None):
    """A function as if defined in a training script's __main__ (so dill stores it by value and
    it loads anywhere). `source` is benign code defining or being a function; it is the
    generator's own harmless text, compiled and bound here only to be serialized."""
    glb = {"__name__": "__main__", "__builtins__": __builtins__}
    glb.update(namespace or {})
    if source.lstrip().startswith("lambda"):
        return eval(compile(source, "train.py", "eval"), glb)
    exec(compile(source, "train.py", "exec"), glb)
    return glb


def dill_bytes(obj):
    import dill
    return dill.dumps(obj)


def npz_bytes(arrays):
    """np.savez's layout (stored .npy members) with fixed timestamps."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for name, arr in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asanyarray(arr), allow_pickle=True)
            z.writestr(zipfile.ZipInfo(name + ".npy", ZIP_EPOCH), member.getvalue())
    return out.getvalue()


def npy_bytes(arr):
    out = io.BytesIO()
    np.save(out, arr, allow_pickle=True)
    return out.getvalue()
