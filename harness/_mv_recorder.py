"""The call recorder: every callable the unpickler resolves and invokes, in order, with bounded
arguments and the offset of the opcode that invoked it, reported as it happens (a payload may
never return).

pickle.Unpickler, pickle._Unpickler, pickle.load and pickle.loads are replaced by a subclass of
the pure-Python unpickler before any framework is imported, so torch.load (which subclasses
pickle_module.Unpickler), joblib (pickle._Unpickler) and dill (pickle.Unpickler at import) all
unpickle through it during the real load. Globals that cannot be resolved in the jail
(a module the victim had but the jail lacks, __main__ classes) become recording stubs so the
load goes on past them.
"""
import io
import pickle

import _modelvet

_emit = _modelvet.emit
_brepr = _modelvet.brepr
_callable_name = _modelvet.callable_name
_OriginalUnpickler = pickle._Unpickler

MAX_CALLS = 2000          # distinct call lines over the run
MAX_PER_CALLABLE = 50     # lines per callable: 10,000 tensor rebuilds cannot hide the one payload call

_state = {"member": "", "recorded": 0, "truncated": 0, "repeated": {}, "per_callable": {}, "stubs": 0}


def set_member(name):
    """The container member being unpickled now ("" for a bare pickle)."""
    _state["member"] = name or ""


def summary():
    repeated = dict(sorted(_state["repeated"].items(), key=lambda kv: -kv[1])[:20])
    return {"calls_recorded": _state["recorded"], "calls_truncated": _state["truncated"],
            "calls_repeated": repeated, "stubs": _state["stubs"]}


def record_call(func, args, kwargs, origin):
    name = _callable_name(func)
    seen = _state["per_callable"].get(name, 0)
    _state["per_callable"][name] = seen + 1
    if seen >= MAX_PER_CALLABLE:
        _state["repeated"][name] = _state["repeated"].get(name, 0) + 1
        return
    if _state["recorded"] >= MAX_CALLS:
        _state["truncated"] += 1
        return
    _state["recorded"] += 1
    fields = {"callable": name, "args": _brepr(args), "origin": origin, "member": _state["member"]}
    if kwargs:
        fields["kwargs"] = _brepr(kwargs)
    _emit("call", fields)


class _StubBase:
    """Stands in for a global the jail cannot provide: accepts any construction, call and state."""

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, *args, **kwargs):
        return self

    def __setstate__(self, state):
        pass

    def __reduce__(self):
        return (type(self), ())


def make_stub(module, name, error, offset):
    qualname = name if isinstance(name, str) and name else "missing"
    stub = type(qualname.rpartition(".")[2] or "missing", (_StubBase,), {"__module__": str(module)})
    stub.__qualname__ = qualname
    _state["stubs"] += 1
    _emit("stub", {"module": str(module), "name": str(name), "reason": "%s: %s" % (type(error).__name__, error),
                   "offset": offset, "member": _state["member"]})
    return stub


class _RecordingUnpickler(_OriginalUnpickler):
    dispatch = dict(_OriginalUnpickler.dispatch)

    def __init__(self, file, *args, **kwargs):
        _OriginalUnpickler.__init__(self, file, *args, **kwargs)
        self._mv_file = file
        self._mv_frame_end = None
        self._mv_frame_len = 0
        self._mv_global_offset = -1
        self._mv_op = ""

    # --- where are we: the offset of the opcode being executed ---------------------------
    def _mv_offset(self):
        """Called right after the opcode byte was read: its offset is the position minus one."""
        try:
            frame = self._unframer.current_frame
            if frame is not None and self._mv_frame_end is not None:
                return self._mv_frame_end - self._mv_frame_len + frame.tell() - 1
            return self._mv_file.tell() - 1
        except Exception:
            return -1

    def _mv_origin(self, op):
        return "pickle %s @ offset %d" % (op, self._mv_offset())

    def load_frame(self):
        _OriginalUnpickler.load_frame(self)
        try:
            with self._unframer.current_frame.getbuffer() as view:
                self._mv_frame_len = view.nbytes
            self._mv_frame_end = self._mv_file.tell()
        except Exception:
            self._mv_frame_end = None
    dispatch[pickle.FRAME[0]] = load_frame

    # --- resolving globals -------------------------------------------------------------
    def load_global(self):
        self._mv_global_offset = self._mv_offset()
        _OriginalUnpickler.load_global(self)
    dispatch[pickle.GLOBAL[0]] = load_global

    def load_stack_global(self):
        self._mv_global_offset = self._mv_offset()
        _OriginalUnpickler.load_stack_global(self)
    dispatch[pickle.STACK_GLOBAL[0]] = load_stack_global

    def find_class(self, module, name):
        try:
            return _OriginalUnpickler.find_class(self, module, name)
        except (ImportError, AttributeError) as error:
            return make_stub(module, name, error, self._mv_global_offset)

    # --- invoking callables ------------------------------------------------------------
    def load_reduce(self):
        stack = self.stack
        if len(stack) >= 2:
            record_call(stack[-2], stack[-1], None, self._mv_origin("REDUCE"))
        _OriginalUnpickler.load_reduce(self)
    dispatch[pickle.REDUCE[0]] = load_reduce

    def load_newobj(self):
        stack = self.stack
        if len(stack) >= 2:
            record_call(stack[-2], stack[-1], None, self._mv_origin("NEWOBJ"))
        _OriginalUnpickler.load_newobj(self)
    dispatch[pickle.NEWOBJ[0]] = load_newobj

    def load_newobj_ex(self):
        stack = self.stack
        if len(stack) >= 3:
            record_call(stack[-3], stack[-2], stack[-1], self._mv_origin("NEWOBJ_EX"))
        _OriginalUnpickler.load_newobj_ex(self)
    dispatch[pickle.NEWOBJ_EX[0]] = load_newobj_ex

    def load_inst(self):
        self._mv_global_offset = self._mv_offset()
        self._mv_op = "INST"
        _OriginalUnpickler.load_inst(self)
    dispatch[pickle.INST[0]] = load_inst

    def load_obj(self):
        self._mv_global_offset = self._mv_offset()
        self._mv_op = "OBJ"
        _OriginalUnpickler.load_obj(self)
    dispatch[pickle.OBJ[0]] = load_obj

    def _instantiate(self, klass, args):
        record_call(klass, tuple(args), None, "pickle %s @ offset %d" % (self._mv_op or "INST", self._mv_global_offset))
        return _OriginalUnpickler._instantiate(self, klass, args)

    def load_build(self):
        stack = self.stack
        if len(stack) >= 2:
            # Looked up on the type, as a plain attribute read on the instance could run its __getattr__.
            setstate = getattr(type(stack[-2]), "__setstate__", None)
            if setstate is not None and setstate is not _StubBase.__setstate__:
                record_call(setstate, (stack[-1],), None, self._mv_origin("BUILD"))
        _OriginalUnpickler.load_build(self)
    dispatch[pickle.BUILD[0]] = load_build


# Looks like the class it replaces to a payload that inspects it.
_RecordingUnpickler.__name__ = _RecordingUnpickler.__qualname__ = "_Unpickler"
_RecordingUnpickler.__module__ = "pickle"


def _load(file, *, fix_imports=True, encoding="ASCII", errors="strict", buffers=None):
    return _RecordingUnpickler(file, fix_imports=fix_imports, buffers=buffers,
                               encoding=encoding, errors=errors).load()


def _loads(data, /, *, fix_imports=True, encoding="ASCII", errors="strict", buffers=None):
    if isinstance(data, str):
        raise TypeError("Can't load pickle from unicode string")
    return _RecordingUnpickler(io.BytesIO(data), fix_imports=fix_imports, buffers=buffers,
                               encoding=encoding, errors=errors).load()


_load.__name__ = "load"
_loads.__name__ = "loads"
_load.__module__ = _loads.__module__ = "pickle"


def install():
    """Before any framework import: they bind pickle's names when they are imported."""
    pickle.Unpickler = pickle._Unpickler = _RecordingUnpickler
    pickle.load = pickle._load = _load
    pickle.loads = pickle._loads = _loads


Unpickler = _RecordingUnpickler
