"""In-memory tampering (Sleepy Pickle): a load that leaves no process, socket or file behind but
changes the model or the libraries the victim goes on using. Reported as "tamper" events:

- functions and classes of key modules (builtins, os, subprocess, socket, pickle, torch, numpy,
  joblib…) and methods of torch.Tensor / torch.nn.Module replaced, removed, or (on builtins) added;
- sys.modules entries swapped for other objects;
- hooks whose code the file supplied (not an installed library's) on a loaded nn.Module, global
  module hooks, and a forward replaced on the instance;
- tensors of a torch zip checkpoint whose bytes match none of the storages in the file.

Snapshots hold the objects themselves (compared by identity), so an id cannot be reused.
"""
import hashlib
import sys
import types
import zipfile

import _sitehooks

WATCHED = ("builtins", "os", "posix", "io", "_io", "subprocess", "socket", "pickle", "_pickle", "marshal", "importlib",
           "shutil", "urllib.request", "torch", "torch.nn", "torch.nn.functional", "torch.serialization",
           "torch.hub", "torch.Tensor", "torch.nn.Module", "numpy", "numpy.lib.npyio", "numpy.lib.format", "joblib",
           "dill", "sklearn.base", "h5py")
MODULE_HOOKS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_state_dict_hooks",
                "_load_state_dict_pre_hooks", "_load_state_dict_post_hooks")
GLOBAL_HOOKS = ("_global_forward_hooks", "_global_forward_pre_hooks", "_global_backward_hooks",
                "_global_backward_pre_hooks")
LIBRARY_PREFIXES = ("/usr/lib/python3", "/usr/local/lib/python3")
MAX_REPORTS = 40
MAX_WALK = 2000
MAX_STORAGE_BYTES = 512 << 20
_MISSING = object()


def _emit(what, target, detail):
    _sitehooks.emit("tamper", {"what": what, "target": target, "detail": detail[:300]})


def _resolve(dotted):
    """A watched namespace: a module in sys.modules, or a class reached from one."""
    module = sys.modules.get(dotted)
    if module is not None:
        return module
    head, _, name = dotted.rpartition(".")
    parent = sys.modules.get(head)
    value = getattr(parent, name, None) if parent is not None else None
    return value if isinstance(value, type) else None


def _namespace(obj):
    try:
        return dict(vars(obj))
    except TypeError:
        return {}


def _is_code(value):
    return callable(value) or isinstance(value, (types.ModuleType, staticmethod, classmethod, property))


def _defined_by_library(fn):
    """True when fn's code is an installed library's (or the interpreter's, in C)."""
    target = getattr(fn, "__func__", fn)
    code = getattr(target, "__code__", None)
    if code is None:
        call = getattr(type(target), "__call__", None)
        code = getattr(call, "__code__", None)
        if code is None:
            return True  # builtin or C: not code from the file
    return code.co_filename.startswith(LIBRARY_PREFIXES)


class Snapshot:
    """The watched namespaces and sys.modules as they are now."""

    def __init__(self):
        self.namespaces = {}
        for name in WATCHED:
            obj = _resolve(name)
            if obj is not None:
                everything = _namespace(obj)
                self.namespaces[name] = (obj, {k: v for k, v in everything.items() if _is_code(v)}, set(everything))
        self.modules = dict(sys.modules)
        self.reported = set()

    def report_changes(self):
        """Emits one tamper event per change not reported before; returns how many are new."""
        found = []
        for name, (obj, before, names) in self.namespaces.items():
            now = _namespace(obj)
            for attr, old in before.items():
                new = now.get(attr, _MISSING)
                if new is _MISSING:
                    found.append(("library_function", "%s.%s" % (name, attr), "removed"))
                elif new is not old:
                    found.append(("library_function", "%s.%s" % (name, attr),
                                  "replaced by %s" % _sitehooks.callable_name(new)))
            if name == "builtins":
                for attr in now.keys() - names:
                    if not attr.startswith("__") and _is_code(now[attr]):
                        found.append(("library_function", "builtins.%s" % attr,
                                      "added %s" % _sitehooks.brepr(now[attr], 120)))
        for name, old in self.modules.items():
            new = sys.modules.get(name)
            if new is not None and new is not old:
                found.append(("sys_modules", name, "swapped for %s" % _sitehooks.brepr(new, 120)))
        fresh = [f for f in found if (f[0], f[1]) not in self.reported][:MAX_REPORTS]
        for what, target, detail in fresh:
            self.reported.add((what, target))
            _emit(what, target, detail)
        return len(fresh)


def _walk_objects(roots):
    """Loaded objects and what they hold (dicts, lists, tuples), bounded."""
    seen, stack, out = set(), list(roots), []
    while stack and len(out) < MAX_WALK:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        out.append(obj)
        if isinstance(obj, dict):
            stack.extend(list(obj.values())[:MAX_WALK])
        elif isinstance(obj, (list, tuple)):
            stack.extend(list(obj)[:MAX_WALK])
    return out


def check_models(roots):
    """Hooks with the file's code and replaced forwards on loaded modules; global hooks."""
    torch = sys.modules.get("torch")
    if torch is None:
        return
    reports = 0
    modules = []
    for obj in _walk_objects(roots):
        if isinstance(obj, torch.nn.Module):
            try:
                modules.extend(list(obj.modules())[:MAX_WALK])
            except Exception:
                modules.append(obj)
    for module in modules[:MAX_WALK]:
        state = _namespace(module)
        label = type(module).__name__
        for attr in MODULE_HOOKS:
            hooks = state.get(attr)
            for hook in list(hooks.values())[:10] if isinstance(hooks, dict) else []:
                # A C builtin (print, os.system) is no library's hook: reported too.
                library = _defined_by_library(hook) and not isinstance(hook, types.BuiltinFunctionType)
                if not library and reports < MAX_REPORTS:
                    _emit("model_hook", "%s.%s" % (label, attr), "hook %s" % _sitehooks.callable_name(hook))
                    reports += 1
        forward = state.get("forward")
        if forward is not None and not _defined_by_library(forward) and reports < MAX_REPORTS:
            _emit("model_forward", label, "forward replaced on the instance by %s" % _sitehooks.callable_name(forward))
            reports += 1
    registry = sys.modules.get("torch.nn.modules.module")
    for attr in GLOBAL_HOOKS:
        hooks = getattr(registry, attr, None)
        for hook in list(hooks.values())[:10] if isinstance(hooks, dict) else []:
            if not _defined_by_library(hook):
                _emit("global_hook", "torch.nn.modules.module.%s" % attr, "hook %s" % _sitehooks.callable_name(hook))


def _storage_hashes(path):
    """sha256 of every storage a torch zip checkpoint holds (<archive>/data/<key>)."""
    hashes = set()
    with zipfile.ZipFile(path) as archive:
        storages = [i for i in archive.infolist()
                    if len(i.filename.split("/")) >= 3 and i.filename.split("/")[-2] == "data" and i.filename.split("/")[-1].isdigit()]
        # Over the bound nothing is read: a Hub-sized checkpoint's storages stay unread (mapped, see _mv_torchmap).
        if sum(i.file_size for i in storages) > MAX_STORAGE_BYTES:
            return None
        for info in storages:
            hashes.add(hashlib.sha256(archive.read(info)).hexdigest())
    return hashes


def check_tensors(path, roots):
    """Tensors of a torch zip checkpoint are views of the file's storages: one whose storage bytes
    match none of them was changed (or made) by code during the load."""
    torch = sys.modules.get("torch")
    try:
        if torch is None or not zipfile.is_zipfile(path):
            return
        hashes = _storage_hashes(path)
    except Exception:
        return
    if not hashes:
        return
    seen, reports = set(), 0
    for name, tensor in _tensors(roots, torch):
        try:
            if tensor.layout != torch.strided or tensor.device.type != "cpu":
                continue
            storage = tensor.storage().untyped()
            if storage.data_ptr() in seen:
                continue
            seen.add(storage.data_ptr())
            raw = torch.empty(0, dtype=torch.uint8).set_(
                torch.storage.TypedStorage(wrap_storage=storage, dtype=torch.uint8)).numpy().tobytes()
        except Exception:
            continue
        if hashlib.sha256(raw).hexdigest() not in hashes:
            _emit("tensor_data", name, "%s %s differs from every storage in the file" % (tuple(tensor.shape), tensor.dtype))
            reports += 1
            if reports >= MAX_REPORTS:
                return


def _tensors(roots, torch):
    """(name, tensor) of the loaded tensors: dict keys name them; module parameters and buffers too."""
    out, seen, stack = [], set(), [("", r) for r in roots]
    while stack and len(out) < MAX_WALK:
        name, obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, torch.Tensor):
            out.append((name or "tensor", obj))
        elif isinstance(obj, torch.nn.Module):
            try:
                stack.extend(list(obj.state_dict(keep_vars=True).items())[:MAX_WALK])
            except Exception:
                pass
        elif isinstance(obj, dict):
            stack.extend((str(k)[:80], v) for k, v in list(obj.items())[:MAX_WALK])
        elif isinstance(obj, (list, tuple)):
            stack.extend(("%s[%d]" % (name, i), v) for i, v in enumerate(list(obj)[:MAX_WALK]))
    return out
