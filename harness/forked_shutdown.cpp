#include "harness/forked_shutdown.h"

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <vector>

#include "harness/audit_hook.h"
#include "harness/embedded_modules.h"

namespace modelvet::harness {
namespace {

// Taken in the zygote, never written in a jail (read through borrowed references only, so
// walking them copies no page): name -> (module, copy of its dict at the fork).
PyObject* g_modules_at_fork = nullptr;
// The zygote's own references to what the shutdown calls, so a payload rebinding
// atexit._run_exitfuncs or gc.collect cannot skip a step (Py_FinalizeEx calls them from C).
PyObject* g_run_exitfuncs = nullptr;
PyObject* g_gc_collect = nullptr;
PyObject* g_gc_get_objects = nullptr;
// In a jail: (module name, name) -> value, for what the harness's own setup bound.
PyObject* g_harness_bindings = nullptr;

constexpr int kMaxClearPasses = 4;  // a finaliser may bind new names; bounded

PyObject* attribute_of(const char* module, const char* name) {
  PyObject* m = PyImport_ImportModule(module);
  PyObject* a = m ? PyObject_GetAttrString(m, name) : nullptr;
  Py_XDECREF(m);
  return a;
}

// A Python error in a shutdown step is reported as CPython reports one (stderr), never fatal.
void call_quietly(PyObject* callable) {
  if (!callable) return;
  PyObject* r = PyObject_CallNoArgs(callable);
  if (!r) PyErr_WriteUnraisable(callable);
  Py_XDECREF(r);
}

// No Python source is run here: the audit hook would report its compile as the file's.
void call_method_quietly(PyObject* obj, const char* method) {
  if (!obj || obj == Py_None) return;
  PyObject* r = PyObject_CallMethod(obj, method, nullptr);
  if (!r) PyErr_WriteUnraisable(obj);
  Py_XDECREF(r);
}

void flush_std_streams() {
  for (const char* name : {"stdout", "stderr"}) {
    PyObject* stream = PySys_GetObject(name);  // borrowed
    PyObject* r = stream && stream != Py_None ? PyObject_CallMethod(stream, "flush", nullptr) : nullptr;
    if (!r) PyErr_Clear();
    Py_XDECREF(r);
  }
}

// As CPython clears a module at shutdown: every value but __builtins__ becomes None, the
// private names first. Returns how many values it dropped.
size_t clear_module_dict(PyObject* dict) {
  size_t dropped = 0;
  for (int pass = 0; pass < 2; ++pass) {
    PyObject* keys = PyDict_Keys(dict);
    if (!keys) return PyErr_Clear(), dropped;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(keys); ++i) {
      PyObject* key = PyList_GET_ITEM(keys, i);
      if (!PyUnicode_Check(key) || PyUnicode_CompareWithASCIIString(key, "__builtins__") == 0) continue;
      const bool is_private = PyUnicode_GET_LENGTH(key) > 0 && PyUnicode_READ_CHAR(key, 0) == '_';
      if (is_private != (pass == 0)) continue;
      PyObject* value = PyDict_GetItemWithError(dict, key);
      if (!value || value == Py_None) continue;
      if (PyDict_SetItem(dict, key, Py_None) != 0) PyErr_Clear();
      ++dropped;
    }
    Py_DECREF(keys);
  }
  return dropped;
}

bool bound_by_harness(PyObject* module_name, PyObject* key, PyObject* value) {
  if (!g_harness_bindings) return false;
  PyObject* where = PyTuple_Pack(2, module_name, key);
  PyObject* theirs = where ? PyDict_GetItemWithError(g_harness_bindings, where) : nullptr;
  Py_XDECREF(where);
  if (PyErr_Occurred()) PyErr_Clear();
  return theirs == value;
}

// The names of a zygote module's dict that differ from the fork: bound (or rebound) since.
// Borrowed references, valid while nothing writes to the dict.
void changed_bindings(PyObject* dict, PyObject* at_fork, std::vector<PyObject*>* added, std::vector<PyObject*>* rebound) {
  PyObject *key, *value;
  Py_ssize_t pos = 0;
  while (PyDict_Next(dict, &pos, &key, &value)) {
    PyObject* before = PyDict_GetItemWithError(at_fork, key);
    if (!before && PyErr_Occurred()) PyErr_Clear();
    if (!before) added->push_back(key);
    else if (before != value) rebound->push_back(key);
  }
}

// In a module the zygote imported: every name the jail bound is deleted and every name it
// rebound gets the zygote's value back, which drops the jail's object; the harness's own
// bindings stay. Returns how many.
size_t undo_bindings(PyObject* module_name, PyObject* dict, PyObject* at_fork) {
  std::vector<PyObject*> added, rebound;
  changed_bindings(dict, at_fork, &added, &rebound);
  auto harness_owned = [&](PyObject* k) { return bound_by_harness(module_name, k, PyDict_GetItemWithError(dict, k)); };
  std::erase_if(added, harness_owned);
  std::erase_if(rebound, harness_owned);
  for (PyObject* k : added) Py_INCREF(k);
  for (PyObject* k : rebound) Py_INCREF(k);
  for (PyObject* k : added)
    if (PyDict_DelItem(dict, k) != 0) PyErr_Clear();
  for (PyObject* k : rebound) {
    PyObject* before = PyDict_GetItemWithError(at_fork, k);
    if (before && PyDict_SetItem(dict, k, before) != 0) PyErr_Clear();
  }
  for (PyObject* k : added) Py_DECREF(k);
  for (PyObject* k : rebound) Py_DECREF(k);
  return added.size() + rebound.size();
}

// One pass over sys.modules and the zygote's modules. Returns how many values it dropped.
size_t clear_what_the_jail_added() {
  size_t dropped = 0;
  PyObject* modules = PyImport_GetModuleDict();
  PyObject* names = PyDict_Keys(modules);
  if (!names) return PyErr_Clear(), 0;
  for (Py_ssize_t i = 0; i < PyList_GET_SIZE(names); ++i) {
    PyObject* name = PyList_GET_ITEM(names, i);
    PyObject* module = PyDict_GetItemWithError(modules, name);
    if (!module || !PyModule_Check(module)) continue;
    PyObject* entry = PyDict_GetItemWithError(g_modules_at_fork, name);
    if (!entry && PyErr_Occurred()) PyErr_Clear();
    PyObject* dict = PyModule_GetDict(module);
    if (entry && PyTuple_GET_ITEM(entry, 0) == module && PyDict_Check(PyTuple_GET_ITEM(entry, 1)))
      dropped += undo_bindings(name, dict, PyTuple_GET_ITEM(entry, 1));
    else
      dropped += clear_module_dict(dict);  // imported in the jail, or swapped in for the zygote's
  }
  Py_DECREF(names);
  return dropped;
}

// What is still alive (held by a list, a class or a closure of the zygote's): each object
// created in the jail that has a finaliser gets it called once, as its deallocation at the end
// of a victim's interpreter would. The zygote's objects are frozen, out of get_objects' sight.
void finalize_survivors() {
  PyObject* objects = nullptr;
  if (g_gc_get_objects) {
    HarnessCallScope unaudited;  // the list is the harness's; the finalisers it calls are audited
    objects = PyObject_CallNoArgs(g_gc_get_objects);
  }
  if (!objects) return PyErr_Clear();
  for (Py_ssize_t i = 0; i < PyList_GET_SIZE(objects); ++i) {
    PyObject* o = PyList_GET_ITEM(objects, i);
    if (Py_TYPE(o)->tp_finalize) PyObject_CallFinalizer(o);
    if (PyErr_Occurred()) PyErr_Clear();
  }
  Py_DECREF(objects);
}

}  // namespace

bool snapshot_zygote_modules(std::string* error) {
  g_run_exitfuncs = attribute_of("atexit", "_run_exitfuncs");
  g_gc_collect = attribute_of("gc", "collect");
  g_gc_get_objects = attribute_of("gc", "get_objects");
  g_modules_at_fork = PyDict_New();
  if (!g_run_exitfuncs || !g_gc_collect || !g_gc_get_objects || !g_modules_at_fork) {
    *error = "zygote module snapshot: " + take_python_error();
    return false;
  }
  PyObject *name, *module;
  Py_ssize_t pos = 0;
  PyObject* modules = PyImport_GetModuleDict();
  while (PyDict_Next(modules, &pos, &name, &module)) {
    PyObject* dict = PyModule_Check(module) ? PyModule_GetDict(module) : nullptr;
    PyObject* copy = dict ? PyDict_Copy(dict) : Py_NewRef(Py_None);
    PyObject* entry = copy ? PyTuple_Pack(2, module, copy) : nullptr;
    if (!entry || PyDict_SetItem(g_modules_at_fork, name, entry) != 0) {
      Py_XDECREF(copy), Py_XDECREF(entry);
      *error = "zygote module snapshot: " + take_python_error();
      return false;
    }
    Py_DECREF(copy), Py_DECREF(entry);
  }
  return true;
}

void mark_harness_bindings() {
  if (!g_modules_at_fork || g_harness_bindings) return;
  g_harness_bindings = PyDict_New();
  if (!g_harness_bindings) return PyErr_Clear();
  PyObject *name, *entry;
  Py_ssize_t pos = 0;
  while (PyDict_Next(g_modules_at_fork, &pos, &name, &entry)) {
    PyObject* module = PyTuple_GET_ITEM(entry, 0);
    PyObject* at_fork = PyTuple_GET_ITEM(entry, 1);
    if (!PyModule_Check(module) || !PyDict_Check(at_fork)) continue;
    PyObject* dict = PyModule_GetDict(module);
    std::vector<PyObject*> added, rebound;
    changed_bindings(dict, at_fork, &added, &rebound);
    added.insert(added.end(), rebound.begin(), rebound.end());
    for (PyObject* key : added) {
      PyObject* where = PyTuple_Pack(2, name, key);
      PyObject* value = PyDict_GetItemWithError(dict, key);
      if (!where || !value || PyDict_SetItem(g_harness_bindings, where, value) != 0) PyErr_Clear();
      Py_XDECREF(where);
    }
  }
}

void finalize_forked_interpreter() {
  // Py_FinalizeEx's order: the non-daemon threads, then atexit, then the streams.
  PyObject* threading = PyDict_GetItemString(PyImport_GetModuleDict(), "threading");  // borrowed
  call_method_quietly(threading, "_shutdown");
  call_quietly(g_run_exitfuncs);
  flush_std_streams();
  if (!g_modules_at_fork) return;  // not a zygote's jail: nothing to tell apart
  for (int pass = 0; pass < kMaxClearPasses; ++pass) {
    const size_t dropped = clear_what_the_jail_added();
    call_quietly(g_gc_collect);
    if (dropped == 0) break;
  }
  finalize_survivors();
  call_quietly(g_gc_collect);
  flush_std_streams();
}

}  // namespace modelvet::harness
