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
import sys
import threading

import _sitehooks

_emit = _sitehooks.emit
_brepr = _sitehooks.brepr
_callable_name = _sitehooks.callable_name
_OriginalUnpickler = pickle._Unpickler
# pickle's names as a library imported before install() bound them (a zygote imports the loader's
# libraries before any jail installs the recorder): their replacements are filled in below.
_ORIGINAL_NAMES = [(pickle._Unpickler, "Unpickler"), (pickle.Unpickler, "Unpickler"), (pickle.load, "load"),
                   (pickle._load, "load"), (pickle.loads, "loads"), (pickle._loads, "loads")]
_ORIGINAL_UNPICKLERS = (pickle._Unpickler, pickle.Unpickler)  # the pure-Python one and the C one

MAX_CALLS = 2000          # distinct call lines over the run
MAX_PER_CALLABLE = 50     # lines per callable: 10,000 tensor rebuilds cannot hide the one payload call

_state = {"member": "", "recorded": 0, "truncated": 0, "repeated": {}, "per_callable": {}, "stubs": 0,
          "windows": 0, "stand_ins": 0}

# --- cause attribution ------------------------------------------------------------------------
# Every kernel and Python event is the file's unless it happens inside a *library window*: the
# main thread running an installed library's own machinery (its import-time initialisation, a
# class defined in it rebuilding itself from state by BUILD / NEWOBJ). The harness marks each
# window with a `cause` begin/end pair (seq-numbered, counted in the load event) and the policy
# engine attributes the events between them to the library. Code the file chose (callables it
# invokes with its own arguments, code from its strings, stdlib modules it imports) opens a
# `file` window, which overrides an enclosing library window. Anything unmarked is the file's.
LIBRARY_ROOTS = ("/usr/lib/python3/dist-packages/",)
# The trace module accepts a fixed set of Python event kinds; until it knows `cause` and
# `stand_in`, both travel as `audit` events named modelvet.cause / modelvet.stand_in (the policy
# engine reads either form).
CAUSE_EVENT = "modelvet.cause"
STAND_IN_EVENT = "modelvet.stand_in"


def _emit_marker(name, fields):
    fields["event"] = name
    _emit("audit", fields)
_library_tops = {}


def _is_library_path(path):
    return isinstance(path, str) and path.startswith(LIBRARY_ROOTS) and "/../" not in path


def library_module(name):
    """True when `name` is a module of an installed third-party package: its top-level package
    is found (first on sys.path, so never a stdlib name) under the read-only dist-packages, and
    no part of the dotted name is a script entry point (`__main__`)."""
    if not isinstance(name, str) or not name or name.startswith(".") or len(name) > 200:
        return False
    parts = name.split(".")
    if any(not p.isidentifier() or p == "__main__" for p in parts):
        return False
    top = parts[0]
    known = _library_tops.get(top)
    if known is None:
        known = False
        try:
            module = sys.modules.get(top)
            if module is not None:
                known = _is_library_path(getattr(module, "__file__", None))
            else:
                import importlib.machinery
                spec = importlib.machinery.PathFinder.find_spec(top)
                origin = spec and (spec.origin or "")
                locations = list(spec.submodule_search_locations or []) if spec else []
                known = bool(spec) and (_is_library_path(origin) or any(_is_library_path(x) for x in locations))
        except Exception:
            known = False
        _library_tops[top] = known
    return known


def _defined_in_library(obj):
    """A class reached by its own qualified name in a library module."""
    try:
        module_name = type.__getattribute__(obj, "__module__") if isinstance(obj, type) else None
        if not isinstance(module_name, str) or not library_module(module_name):
            return False
        module = sys.modules.get(module_name)
        if module is None:
            return False
        target = module
        for part in type.__getattribute__(obj, "__qualname__").split("."):
            target = getattr(target, part)
        return target is obj
    except Exception:
        return False


def _python_init_of(cls):
    """The Python-level __init__ a REDUCE of cls would run (None for C or object's)."""
    try:
        for klass in type.__getattribute__(cls, "__mro__"):
            init = klass.__dict__.get("__init__")
            if init is not None:
                return init if hasattr(init, "__code__") else None
    except Exception:
        return True
    return None


def call_cause(func, op, args=None):
    """`library` when invoking func is an installed library rebuilding its own object."""
    if op in ("NEWOBJ", "NEWOBJ_EX") and _defined_in_library(func):
        return "library"
    if op == "BUILD":
        return "library"  # the caller checked the __setstate__ belongs to a library class
    if op == "REDUCE" and isinstance(func, type) and _defined_in_library(func) and _python_init_of(func) is None:
        return "library"
    if op == "REDUCE" and _copyreg_library_rebuild(func, args):
        return "library"
    return "file"


def _copyreg_library_rebuild(func, args):
    """copyreg.__newobj__(cls, ...) / _reconstructor(cls, object, state) of a library class:
    the same as NEWOBJ (only __new__ runs)."""
    import copyreg
    try:
        if func is copyreg.__newobj__ and args:
            return _defined_in_library(args[0])
        if func is copyreg._reconstructor and len(args) == 3:
            return _defined_in_library(args[0]) and args[1] is object
    except Exception:
        return False
    return False


_local = threading.local()


class window:
    """with window("library", "import pandas"): ... — a cause marker pair around the body, emitted
    only where the cause changes (file code is the default, so a file window is marked only
    inside a library one)."""
    __slots__ = ("cause", "reason", "seq")

    def __init__(self, cause, reason):
        self.cause = cause
        self.reason = reason
        self.seq = 0

    def __enter__(self):
        stack = _local.__dict__.setdefault("stack", [])
        current = stack[-1] if stack else "file"
        stack.append(self.cause)
        if self.cause != current:
            _state["windows"] += 1
            self.seq = _state["windows"]
            _emit_marker(CAUSE_EVENT, {"state": "begin", "cause": self.cause, "reason": str(self.reason)[:200], "seq": self.seq,
                            "main_thread": threading.current_thread() is threading.main_thread()})
        return self

    def __exit__(self, *exc):
        stack = _local.__dict__.get("stack")
        if stack:
            stack.pop()
        if self.seq:
            _emit_marker(CAUSE_EVENT, {"state": "end", "cause": self.cause, "seq": self.seq})
        return False


# Objects that are the file's code or its choice of code: callables (not classes) its globals
# resolve to, and callables or new classes its file-caused calls return (getattr chains, dill
# functions and classes, types.FunctionType). A library object whose state reaches one of them
# is not exercised as the library's: library code would call the file's code.
_tainted = {}
MAX_TAINTED = 20000


def taint(obj):
    try:
        if obj is None or isinstance(obj, (str, bytes, int, float, bool)):
            return
        if isinstance(obj, type):
            if _defined_in_library(obj):
                return
        elif not callable(obj):
            return
        if len(_tainted) < MAX_TAINTED:
            _tainted[id(obj)] = obj  # kept alive, so the id is never reused
    except Exception:
        pass


def reaches_file_code(obj, limit=3000, max_depth=8):
    """A bounded walk of obj's state (instance dicts, slots, containers) for a tainted object.
    True when one is found, or when the walk cannot finish (fail closed)."""
    seen = set()
    todo = [(obj, 0)]
    while todo:
        item, depth = todo.pop()
        if id(item) in seen or isinstance(item, (str, bytes, bytearray, int, float, bool, type(None))):
            continue
        seen.add(id(item))
        if len(seen) > limit:
            return True
        if id(item) in _tainted:
            return True
        if depth >= max_depth:
            continue
        try:
            if isinstance(item, dict):
                children = list(item.keys()) + list(item.values())
            elif isinstance(item, (list, tuple, set, frozenset)):
                children = list(item)
            else:
                children = []
                try:
                    state = object.__getattribute__(item, "__dict__")
                except AttributeError:  # C objects (arrays, tensors) have no instance dict
                    state = None
                if isinstance(state, dict):
                    children.extend(state.values())
                for klass in type.__getattribute__(type(item), "__mro__"):
                    for slot in klass.__dict__.get("__slots__", ()) or ():
                        try:
                            children.append(object.__getattribute__(item, slot))
                        except Exception:
                            pass
        except Exception:
            return True
        if len(children) > limit:
            return True
        todo.extend((child, depth + 1) for child in children)
    return False


def object_cause(obj):
    """`library` for an object of an installed library's class whose state reaches none of the
    file's code: using it runs only the library's code."""
    try:
        if _compiled_from_file(obj):
            return "file"
        return "library" if _defined_in_library(type(obj)) and not reaches_file_code(obj) else "file"
    except Exception:
        return "file"


def _compiled_from_file(obj):
    """A TorchScript module, function or class object: torch's classes, but the code they run
    (forward, methods, hooks) was compiled from the file's own code/ directory."""
    torch = sys.modules.get("torch")
    if torch is None:
        return False
    jit = getattr(torch, "jit", None)
    kinds = tuple(k for k in (getattr(jit, "ScriptModule", None), getattr(jit, "ScriptFunction", None),
                              getattr(getattr(torch, "_C", None), "ScriptObject", None)) if isinstance(k, type))
    return bool(kinds) and isinstance(obj, kinds)


def collect_garbage(reason):
    """Collects what the load (or an exercise) left behind now, so the finalisers of the
    library's own objects (xgboost's Booster.__del__ freeing its handle) run in a library window
    when the file supplied no code at all (nothing tainted); otherwise as the file's."""
    import gc
    cause = "file" if _tainted else "library"
    with window(cause, "garbage collection after %s (%s)" % (reason, "no file code" if cause == "library" else
                                                               "the file supplied code")):
        gc.collect()


def release(objects):
    """Drops the loaded objects (a list, cleared in place) and collects, in one window."""
    import gc
    cause = "file" if _tainted else "library"
    with window(cause, "releasing the loaded objects (%s)" % ("no file code" if cause == "library" else
                                                              "the file supplied code")):
        del objects[:]
        gc.collect()


def emit_window_count():
    """The number of windows opened so far, so the engine can tell forged or lost markers."""
    _emit_marker("modelvet.cause_count", {"count": _state["windows"]})


def import_as_library(module, reason):
    """Imports a library module (and its parents) in a library window, once."""
    if module in sys.modules or not library_module(module):
        return False
    with window("library", reason):
        try:
            __import__(module)
        except BaseException:  # the find_class that follows reports it (a stub)
            pass
    return True


def set_member(name):
    """The container member being unpickled now ("" for a bare pickle)."""
    _state["member"] = name or ""


def summary():
    repeated = dict(sorted(_state["repeated"].items(), key=lambda kv: -kv[1])[:20])
    return {"calls_recorded": _state["recorded"], "calls_truncated": _state["truncated"],
            "calls_repeated": repeated, "stubs": _state["stubs"], "cause_windows": _state["windows"],
            "stand_ins": _state["stand_ins"]}


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


class _StandInMeta(type):
    """A stand-in class also answers attribute lookups on itself the way the enums and classes it
    replaces do: `getattr(IntervalStrategy, "STEPS")` (Python 3.12's enum pickles) returns a
    member-like instance with name and value, the same one each time."""

    def __getattr__(cls, name):
        if name.startswith("__") or name in ("_mv_members", "_mv_reported"):
            raise AttributeError(name)
        members = type.__getattribute__(cls, "_mv_members")
        member = members.get(name)
        if member is None:
            member = cls.__new__(cls)
            object.__setattr__(member, "_name_", name)
            object.__setattr__(member, "_value_", name.lower())
            members[name] = member
            _stand_in_note(cls, "member %s looked up: a member-like object (name %r, value %r)" % (name, name, name.lower()),
                           True)
        return member


def _stand_in_note(cls, what, emulated):
    """One `stand_in` event per (class, what): what the stand-in did, and whether that is an
    honest emulation of the missing code (data classes, enums, containers) or not (a missing
    function called: the stand-in returns itself and the real effect is unknown)."""
    try:
        reported = type.__getattribute__(cls, "_mv_reported")
        if what in reported or len(reported) >= 20:
            return
        reported.add(what)
        _state["stand_ins"] += 1
        _emit_marker(STAND_IN_EVENT, {"module": type.__getattribute__(cls, "__module__"),
                           "name": type.__getattribute__(cls, "__qualname__"), "what": what, "emulated": emulated,
                           "member": _state["member"]})
    except Exception:
        pass


class _StubBase(metaclass=_StandInMeta):
    """Stands in for a global the jail cannot provide (a module the victim had, a `__main__`
    class): behaves like the data classes, enums and containers such globals usually are.
    Construction keeps its arguments (an enum rebuilt by value, `IntervalStrategy("steps")`),
    BUILD sets the state as attributes (a dataclass's fields), SETITEMS/APPENDS fill it like a
    dict or list, `__reduce_ex__` gives the same back, and a call (a missing function) returns
    the stand-in itself, reported as not emulated."""

    def __new__(cls, *args, **kwargs):
        obj = object.__new__(cls)
        object.__setattr__(obj, "_mv_args", args)
        object.__setattr__(obj, "_mv_items", {})
        object.__setattr__(obj, "_mv_list", [])
        if len(args) == 1 and isinstance(args[0], (str, int, float)) and not kwargs:
            object.__setattr__(obj, "_value_", args[0])  # an enum member rebuilt by value
        return obj

    def __init__(self, *args, **kwargs):
        for key, value in kwargs.items():
            if isinstance(key, str) and not key.startswith("__"):
                try:
                    object.__setattr__(self, key, value)
                except Exception:
                    pass

    def __call__(self, *args, **kwargs):
        _stand_in_note(type(self), "called as a function: returned itself (the missing code's effect is unknown)", False)
        return self

    def __setstate__(self, state):
        slots = None
        if isinstance(state, tuple) and len(state) == 2:
            state, slots = state
        for part in (state, slots):
            if isinstance(part, dict):
                for key, value in part.items():
                    if isinstance(key, str) and not key.startswith("__"):
                        try:
                            object.__setattr__(self, key, value)
                        except Exception:
                            pass
        if state is not None and not isinstance(state, dict):
            object.__setattr__(self, "_mv_state", state)
    __setstate__._mv_stand_in = True

    # containers
    def __setitem__(self, key, value):
        self._mv_items[key] = value

    def __getitem__(self, key):
        if key in self._mv_items:
            return self._mv_items[key]
        if isinstance(key, int) and -len(self._mv_list) <= key < len(self._mv_list):
            return self._mv_list[key]
        raise KeyError(key)

    def __contains__(self, key):
        return key in self._mv_items

    def __iter__(self):
        return iter(list(self._mv_items) if self._mv_items else self._mv_list)

    def __len__(self):
        return len(self._mv_items) or len(self._mv_list)

    def keys(self):
        return self._mv_items.keys()

    def items(self):
        return self._mv_items.items()

    def values(self):
        return self._mv_items.values()

    def get(self, key, default=None):
        return self._mv_items.get(key, default)

    def append(self, value):
        self._mv_list.append(value)

    def extend(self, values):
        self._mv_list.extend(values)

    # enum-like
    @property
    def name(self):
        return self.__dict__.get("_name_", type(self).__qualname__)

    @property
    def value(self):
        return self.__dict__.get("_value_")

    def __repr__(self):
        if "_name_" in self.__dict__ or "_value_" in self.__dict__:
            return "<%s.%s: %r>" % (type(self).__qualname__, self.name, self.value)
        return "<stand-in %s.%s>" % (type(self).__module__, type(self).__qualname__)

    def __reduce_ex__(self, protocol):
        if "_name_" in self.__dict__:
            return (getattr, (type(self), self.__dict__["_name_"]))
        state = {k: v for k, v in self.__dict__.items() if not k.startswith("_mv_")}
        return (type(self), tuple(self.__dict__.get("_mv_args", ())), state or None)

    def __reduce__(self):
        return self.__reduce_ex__(2)


def make_stub(module, name, error, offset):
    qualname = name if isinstance(name, str) and name else "missing"
    stub = _StandInMeta(qualname.rpartition(".")[2] or "missing", (_StubBase,),
                        {"__module__": str(module), "_mv_members": {}, "_mv_reported": set()})
    stub.__qualname__ = qualname
    _state["stubs"] += 1
    _emit("stub", {"module": str(module), "name": str(name), "reason": "%s: %s" % (type(error).__name__, error),
                   "offset": offset, "member": _state["member"], "stand_in": "data class / enum / container"})
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
        # A global of an installed library: its import is the library's start-up, as in a
        # victim's process that imported it before calling load.
        if isinstance(module, str) and module not in sys.modules:
            import_as_library(module, "import %s (global %s.%s)" % (module, module, name))
        try:
            found = _OriginalUnpickler.find_class(self, module, name)
            if not isinstance(found, type):
                taint(found)
            return found
        except (ImportError, AttributeError) as error:
            return make_stub(module, name, error, self._mv_global_offset)

    # --- invoking callables ------------------------------------------------------------
    def load_reduce(self):
        stack = self.stack
        cause = "file"
        if len(stack) >= 2:
            record_call(stack[-2], stack[-1], None, self._mv_origin("REDUCE"))
            cause = call_cause(stack[-2], "REDUCE", stack[-1])
        with window(cause, "REDUCE %s" % _callable_name(stack[-2]) if len(stack) >= 2 else "REDUCE"):
            _OriginalUnpickler.load_reduce(self)
        if cause == "file" and stack:
            taint(stack[-1])
    dispatch[pickle.REDUCE[0]] = load_reduce

    def load_newobj(self):
        stack = self.stack
        cause = "file"
        if len(stack) >= 2:
            record_call(stack[-2], stack[-1], None, self._mv_origin("NEWOBJ"))
            cause = call_cause(stack[-2], "NEWOBJ")
        with window(cause, "NEWOBJ %s" % _callable_name(stack[-2]) if len(stack) >= 2 else "NEWOBJ"):
            _OriginalUnpickler.load_newobj(self)
    dispatch[pickle.NEWOBJ[0]] = load_newobj

    def load_newobj_ex(self):
        stack = self.stack
        cause = "file"
        if len(stack) >= 3:
            record_call(stack[-3], stack[-2], stack[-1], self._mv_origin("NEWOBJ_EX"))
            cause = call_cause(stack[-3], "NEWOBJ_EX")
        with window(cause, "NEWOBJ_EX %s" % _callable_name(stack[-3]) if len(stack) >= 3 else "NEWOBJ_EX"):
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
        with window("file", "%s %s" % (self._mv_op or "INST", _callable_name(klass))):
            result = _OriginalUnpickler._instantiate(self, klass, args)
        taint(result)
        return result

    def load_build(self):
        stack = self.stack
        if len(stack) >= 2:
            # Looked up on the type, as a plain attribute read on the instance could run its __getattr__.
            klass = type(stack[-2])
            setstate = getattr(klass, "__setstate__", None)
            if setstate is not None and not _is_stand_in_setstate(setstate):
                record_call(setstate, (stack[-1],), None, self._mv_origin("BUILD"))
                # A library class rebuilding itself from state; any other __setstate__ (a
                # __main__ class dill carried, a class the file built) is the file's code.
                owner = _setstate_owner(klass, setstate)
                cause = "library" if owner is not None and _defined_in_library(owner) else "file"
                with window(cause, "BUILD %s" % _callable_name(setstate)):
                    _OriginalUnpickler.load_build(self)
                return
        _OriginalUnpickler.load_build(self)
    dispatch[pickle.BUILD[0]] = load_build


def _setstate_owner(klass, setstate):
    """The class in klass's MRO that defines the __setstate__ BUILD will call."""
    try:
        for base in type.__getattribute__(klass, "__mro__"):
            if "__setstate__" in base.__dict__:
                return base
    except Exception:
        pass
    return None


def _is_stand_in_setstate(setstate):
    return getattr(setstate, "_mv_stand_in", False)


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
    """Before any framework import: they bind pickle's names when they are imported. Libraries a
    zygote imported earlier are then adopted, so a forked jail records what an exec'd one does."""
    pickle.Unpickler = pickle._Unpickler = _RecordingUnpickler
    pickle.load = pickle._load = _load
    pickle.loads = pickle._loads = _loads
    _adopt_earlier_imports()


def _adopt_earlier_imports():
    """What a library bound from pickle at its import, rebound to the recording names: module
    globals holding the original Unpickler/load/loads (joblib.numpy_pickle.Unpickler, dill's
    StockUnpickler), and its subclasses of either original unpickler moved onto the recording one
    with their dispatch rebuilt as a subclass defined after install() would have it (the recording
    entries, then the subclass's own overrides: joblib's BUILD). Without it a zygote's joblib and
    dill loads ran unrecorded: no calls, no library windows (xgboost's own ctypes use then counted
    as the file's)."""
    replacement = {"Unpickler": _RecordingUnpickler, "load": _load, "loads": _loads}
    swap = {id(obj): replacement[kind] for obj, kind in _ORIGINAL_NAMES}
    namespaces = []
    for name, module in list(sys.modules.items()):
        if module is None or name in ("pickle", "_pickle") or name.startswith("_mv_") or name == "_sitehooks":
            continue
        try:
            namespaces.append((name, vars(module)))
        except TypeError:
            continue
    for name, namespace in namespaces:
        for attr, value in list(namespace.items()):
            try:
                if isinstance(value, type) and value is not _RecordingUnpickler and value.__module__ == name and \
                        any(b in _ORIGINAL_UNPICKLERS for b in value.__bases__):
                    swap[id(value)] = _adopted_unpickler(value)
            except Exception:
                continue
    for name, namespace in namespaces:
        for attr, value in list(namespace.items()):
            adopted = swap.get(id(value))
            if adopted is not None and adopted is not value:
                namespace[attr] = adopted


def _adopted_unpickler(klass):
    """klass on the recording unpickler: rebased in place (a subclass of the pure-Python one), or
    remade from its namespace (a subclass of the C one, whose layout cannot be rebased; only when
    no method closes over its class, as super() does)."""
    own = {op: fn for op, fn in klass.__dict__.get("dispatch", {}).items() if fn is not _OriginalUnpickler.dispatch.get(op)}
    dispatch = dict(_RecordingUnpickler.dispatch)
    dispatch.update(own)
    new_bases = tuple(_RecordingUnpickler if b in _ORIGINAL_UNPICKLERS else b for b in klass.__bases__)
    try:
        klass.__bases__ = new_bases
        klass.dispatch = dispatch
        return klass
    except TypeError:
        pass
    body = {k: v for k, v in klass.__dict__.items() if k not in ("__dict__", "__weakref__")}
    for v in body.values():
        fn = getattr(v, "__func__", v)
        if "__class__" in getattr(getattr(fn, "__code__", None), "co_freevars", ()):
            return klass
    body["dispatch"] = dispatch
    remade = type(klass)(klass.__name__, new_bases, body)
    remade.__qualname__ = klass.__qualname__
    return remade


Unpickler = _RecordingUnpickler
