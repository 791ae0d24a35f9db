"""The Python half of the harness run: setup imports, load, exercise. Grace and shutdown are
driven from C (harness.cpp). Returns True when the harness did its job (whatever the load did)."""
import importlib
import pickle
import sys

import _sitehooks
import _mv_exercise
import _mv_loaders
import _mv_recorder
import _mv_tamper
import _mv_timewarp

MAX_REAL_SLEEP_S = 0.005


def _describe_exception(error):
    try:
        message = str(error)
    except BaseException:  # a hostile exception's __str__
        message = "<unprintable>"
    return "%s: %s" % (type(error).__name__, message[:500])


def _handle_like_a_victim(error):
    """What a victim's process does with an exception from the load: logs it (str, repr, the
    formatted traceback), lets it reach sys.excepthook when nothing catches it, and, in a
    worker process (multiprocessing, concurrent.futures), pickles it back to the parent. Code
    that runs only on the error path (a hostile excepthook, an argument's __repr__ or
    __reduce__) runs here, still in the load phase."""
    import traceback
    steps = (lambda: repr(error),
             lambda: traceback.format_exception(type(error), error, error.__traceback__),
             lambda: sys.excepthook(type(error), error, error.__traceback__),
             lambda: pickle.dumps(error))
    for step in steps:
        try:
            step()
        except BaseException:
            pass


def _setup(loader_id):
    """Everything the harness needs, imported before the file is read."""
    _mv_recorder.install()
    for name in _mv_loaders.SETUP_IMPORTS.get(loader_id, []):
        try:
            importlib.import_module(name)
        except Exception as error:
            _sitehooks.emit("harness_error", {"message": "setup import %s failed: %s" % (name, _describe_exception(error))})
            return False
    _mv_timewarp.install(MAX_REAL_SLEEP_S)
    # In a jail forked from a zygote, what the harness bound so far stays through its shutdown.
    _sitehooks.mark_harness_bindings()
    # Out of the sample's sight; the functions keep their modules alive.
    for name in [n for n in sys.modules if n.startswith("_mv_") or n == "_sitehooks"]:
        del sys.modules[name]
    return True


def _preimport(model_path):
    """A victim's process has already imported the libraries its file names (pandas, sklearn,
    xgboost…) before it calls load: the modules of installed third-party packages named by the
    file's globals are imported first, each in a library window, so what they do at start-up
    (pandas running `uname -p`, joblib's semaphore, xgboost's dlopen) is labelled the library's.
    Standard-library modules and unknown names are left to the load (the file's)."""
    try:
        modules = _mv_loaders.named_modules(model_path)
    except Exception:
        return
    done = []
    for module in modules:
        if _mv_recorder.import_as_library(module, "import %s (named by the file, imported before load)" % module):
            done.append(module)
    if done:
        _sitehooks.emit("audit", {"event": "modelvet.preimport", "modules": done[:100], "count": len(done)})


def main(model_path, loader_id, format_id, exercise):
    load = _mv_loaders.LOADERS.get(loader_id)
    if load is None:
        _sitehooks.emit("harness_error", {"message": "unknown loader %r" % loader_id})
        return False
    if not _setup(loader_id):
        return False

    _sitehooks.enter_phase("load", {"loader": loader_id, "format": format_id})
    fields = {"loader": loader_id, "library_version": "", "type": "", "exception": ""}
    loaded = None
    _preimport(model_path)
    snapshot = _mv_tamper.Snapshot()
    try:
        loaded = load(model_path)
        fields["status"] = "ok"
    except BaseException as error:  # SystemExit and KeyboardInterrupt from a payload too
        fields["status"] = "raised"
        fields["exception"] = _describe_exception(error)
        _handle_like_a_victim(error)
        error = None
    if loaded is not None:
        fields["loader"] = loaded.loader
        fields["library_version"] = loaded.library_version
        if loaded.objects:
            fields["type"] = _sitehooks.callable_name(type(loaded.objects[0][1]))
        fields["members"] = [member for member, _ in loaded.objects][:50]
    fields.update(_mv_recorder.summary())
    _mv_recorder.set_member("")
    _mv_recorder.collect_garbage("the load")
    _sitehooks.emit("load", fields)
    _mv_recorder.emit_window_count()
    snapshot.report_changes()
    if loaded is not None:
        roots = [obj for _, obj in loaded.objects]
        _mv_tamper.check_models(roots)
        if loader_id == "torch":
            _mv_tamper.check_tensors(model_path, roots)
        roots = None

    if exercise and loaded is not None:
        _sitehooks.enter_phase("exercise")
        for member, obj in loaded.objects:
            try:
                _mv_exercise.exercise(obj, member or "loaded object")
            except BaseException as error:
                _sitehooks.emit("exercise", {"target": member, "error": _describe_exception(error)})
        obj = None
        snapshot.report_changes()
    # The victim is done with the objects: their finalisers (xgboost freeing its handle) run
    # now, in a window of their own (the library's only when the file supplied no code).
    if loaded is not None:
        _mv_recorder.release(loaded.objects)
    loaded = None
    _mv_recorder.emit_window_count()
    return True
