"""Benign-but-flagged samples: ordinary model files whose pickles import globals that static
scanners (picklescan, modelscan, the Hub) flag or cannot vouch for, yet loading them does nothing
beyond building the model. Written with the real libraries (serializing runs nothing) or, for
hand-made shapes, assembled opcode by opcode.
"""
import argparse
import collections
import functools
import math
import operator
import pickle

import numpy as np

import containers
import models
from catalog import Sample, bytes_writer
from pickle_asm import Call, Global, assemble, attr

_KERAS_SCALE = "lambda x: x * 2.0"


def _sample(file, technique, fmt, description, evidence, write, demo=False):
    return Sample(f"benign/{file}", "benign", technique, fmt, description, evidence, write, demo)


def plain_pickles():
    yield _sample("ordereddict_fromkeys_p2.pkl", "getattr-bound-method", "pickle",
                  "getattr(collections.OrderedDict, 'fromkeys') called on a list of parameter names",
                  "call builtins.getattr; call collections.OrderedDict.fromkeys",
                  bytes_writer(assemble(Call(attr(Global("collections", "OrderedDict"), "fromkeys"),
                                             (["encoder.weight", "encoder.bias", "head.weight"],)), 2)))
    arr = models.rng().standard_normal((3, 4)).astype("float32")
    yield _sample("numpy_reconstruct_p2.pkl", "numpy-reconstruct", "pickle",
                  "pickle.dumps of a float32 array at protocol 2: numpy.core.multiarray._reconstruct",
                  "call numpy.core.multiarray._reconstruct", bytes_writer(pickle.dumps(arr, protocol=2)))
    yield _sample("numpy_frombuffer_p5.pkl", "numpy-frombuffer-proto5", "pickle",
                  "protocol 5 pickle of an array: numpy.core.numeric._frombuffer over an in-band BYTEARRAY8",
                  "call numpy.core.numeric._frombuffer", bytes_writer(pickle.dumps(arr, protocol=5)))
    scalars = {"lr": np.float32(3e-4), "step": np.int64(1000), "dtype": np.dtype("float16")}
    yield _sample("numpy_scalars_p2.pkl", "numpy-scalar-dtype", "pickle",
                  "training metadata holding numpy scalars and a dtype: numpy.core.multiarray.scalar, numpy.dtype",
                  "call numpy.core.multiarray.scalar", bytes_writer(pickle.dumps(scalars, protocol=2)))
    yield _sample("functools_partial_p3.pkl", "functools-partial", "pickle",
                  "functools.partial(math.pow, 2): a callable object that is built, never called",
                  "call functools.partial", bytes_writer(pickle.dumps(functools.partial(math.pow, 2), protocol=3)))
    types_obj = {"ids": {1, 2, 3}, "frozen": frozenset({"a", "b"}), "buf": bytearray(b"\x00\x01\x02"),
                 "window": slice(0, 10, 2), "z": complex(1, -2)}
    yield _sample("builtin_types_p0.pkl", "builtin-names-proto0", "pickle",
                  "protocol 0: __builtin__.set/frozenset/bytearray/slice/complex and _codecs.encode",
                  "call __builtin__.set", bytes_writer(pickle.dumps(types_obj, protocol=0)))
    yield _sample("builtin_types_p1.pkl", "builtin-types-proto1", "pickle",
                  "protocol 1 without fix_imports: builtins.set/frozenset/bytearray/slice/complex",
                  "call builtins.set", bytes_writer(pickle.dumps(types_obj, protocol=1, fix_imports=False)))
    args = argparse.Namespace(lr=3e-4, epochs=10, model="bert-tiny")
    yield _sample("copyreg_reconstructor_p1.pkl", "copyreg-reconstructor", "pickle",
                  "training args (argparse.Namespace) at protocol 1: copyreg._reconstructor + builtins.object",
                  "call copyreg._reconstructor",
                  bytes_writer(pickle.dumps(args, protocol=1, fix_imports=False)))
    yield _sample("operator_getters_p4.pkl", "operator-getters", "pickle",
                  "operator.itemgetter(1) and operator.attrgetter('weight.shape') (collate helpers)",
                  "call operator.itemgetter; call operator.attrgetter",
                  bytes_writer(pickle.dumps([operator.itemgetter(1), operator.attrgetter("weight.shape")], protocol=4)))
    vocab = {"counts": collections.Counter("the cat sat on the mat".split()),
             "index": collections.defaultdict(int, {"<unk>": 0, "the": 1})}
    yield _sample("vocab_counter_p4.pkl", "collections-vocab", "pickle",
                  "tokenizer vocabulary: collections.Counter and defaultdict(builtins.int)",
                  "call collections.defaultdict", bytes_writer(pickle.dumps(vocab, protocol=4)))


def torch_files():
    yield _sample("torch_state_dict.pt", "torch-state-dict", "pytorch-zip",
                  "torch.save of a state_dict: collections.OrderedDict and torch._utils._rebuild_tensor_v2",
                  "call torch._utils._rebuild_tensor_v2", bytes_writer(models.state_dict_checkpoint()), demo=True)
    yield _sample("hf_style/pytorch_model.bin", "torch-parameters-fp16", "pytorch-zip",
                  "HF-style weights: half-precision nn.Parameter via torch._utils._rebuild_parameter",
                  "call torch._utils._rebuild_parameter", bytes_writer(models.parameters_checkpoint()))
    yield _sample("torch_module.pt", "torch-nn-module", "pytorch-zip",
                  "torch.save of a whole nn.Sequential(Linear, ReLU, Linear): module classes by name",
                  "call torch.nn.modules.container.Sequential", bytes_writer(models.module_checkpoint()))
    yield _sample("torchscript_module.pt", "torchscript-module", "torchscript",
                  "torch.jit.script of a tiny Linear*2 module, saved with torch.jit.save",
                  "call torch.jit.load", bytes_writer(models.torchscript_archive()))
    yield _sample("torch_legacy_state_dict.pt", "torch-legacy-state-dict", "pytorch-legacy",
                  "state_dict saved with _use_new_zipfile_serialization=False (pre-1.6 format)",
                  "call torch._utils._rebuild_tensor_v2", bytes_writer(models.state_dict_legacy_checkpoint()))
    checkpoint = models.state_dict_checkpoint()
    yield _sample("torch_state_dict.7z", "7z-torch-state-dict", "7z-pytorch",
                  "the torch state_dict checkpoint (pytorch_model.bin) inside a 7z archive",
                  "call torch._utils._rebuild_tensor_v2",
                  lambda path: containers.write_7z(path, [("pytorch_model.bin", checkpoint)]))


def other_frameworks():
    yield _sample("sklearn_logreg.joblib", "sklearn-joblib", "joblib",
                  "joblib.dump of a fitted sklearn LogisticRegression",
                  "call sklearn.linear_model._logistic.LogisticRegression",
                  bytes_writer(models.joblib_bytes(models.sklearn_model())), demo=True)
    yield _sample("numpy_arrays_compressed.joblib", "joblib-compressed-arrays", "joblib",
                  "joblib.dump(compress=3) of numpy arrays (zlib stream, NumpyArrayWrapper)",
                  "call joblib.numpy_pickle.NumpyArrayWrapper",
                  bytes_writer(models.joblib_bytes(models.numpy_weights(), compress=3)))
    yield _sample("dill_lambda.pkl", "dill-lambda", "dill",
                  "dill.dumps(lambda x: x * 2): dill._dill._create_function/_create_code",
                  "call dill._dill._create_function",
                  bytes_writer(models.dill_bytes(models.main_function("lambda x: x * 2"))), demo=True)
    closure_src = "def make_scaler(factor):\n    def scale(x):\n        return x * factor\n    return scale\n"
    scale = models.main_function(closure_src)["make_scaler"](0.5)
    yield _sample("dill_closure.pkl", "dill-closure", "dill",
                  "dill.dumps of a closure scale(x) = x * factor with factor=0.5 (dill._dill._create_cell)",
                  "call dill._dill._create_cell", bytes_writer(models.dill_bytes(scale)))
    yield _sample("keras_lambda_scale.h5", "keras-lambda-arithmetic", "keras-h5",
                  "Keras 2 H5 Sequential(Dense, Lambda(lambda x: x * 2.0)): marshalled arithmetic only",
                  "call marshal.loads", lambda path: containers.write_keras_h5(path, _KERAS_SCALE, models.rng()))
    yield _sample("savedmodel_lambda_scale", "savedmodel-lambda-arithmetic", "savedmodel",
                  "Keras SavedModel directory with Lambda(lambda x: x * 2.0) in keras_metadata.pb",
                  "call marshal.loads", lambda path: containers.write_savedmodel_dir(path, _KERAS_SCALE))
    obj_arr = np.empty(3, dtype=object)
    obj_arr[:] = [{"label": "neg"}, {"label": "pos"}, ["unk", 0]]
    yield _sample("object_array.npy", "numpy-object-npy", "numpy-npy",
                  ".npy of a dtype=object array (label metadata): needs allow_pickle",
                  "call numpy.core.multiarray._reconstruct", bytes_writer(models.npy_bytes(obj_arr)), demo=True)
    arrays = dict(models.numpy_weights())
    arrays["labels"] = obj_arr
    yield _sample("weights.npz", "numpy-npz-object", "numpy-npz",
                  ".npz of float arrays plus one object array (the only pickled member)",
                  "call numpy.core.multiarray._reconstruct", bytes_writer(models.npz_bytes(arrays)))
    yield _sample("paddle_params.pdparams", "paddle-state-dict", "paddle",
                  "paddle.save-style state_dict: protocol-4 pickle of numpy arrays and the structured-name table",
                  "call numpy.core.multiarray._reconstruct", bytes_writer(models.paddle_state_dict_pickle()))


def samples():
    yield from plain_pickles()
    yield from torch_files()
    yield from other_frameworks()
