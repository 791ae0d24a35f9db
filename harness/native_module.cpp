#include "harness/native_module.h"

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "harness/audit_hook.h"
#include "harness/event_sink.h"
#include "harness/forked_shutdown.h"
#include "harness/py_describe.h"
#include "harness/time_warp.h"
#include "trace/bytes_text.h"

namespace modelvet::harness {
namespace {

// Message fields (an exception's text names files the way the OS gave them): bytes text, exact.
// A lone surrogate U+DC80..U+DCFF is the byte Python's surrogateescape decoded it from.
constexpr const char* kMessageFields[] = {"exception", "error", "message", "reason"};

std::string message_bytes_text(PyObject* s) {
  PyObject* b = PyUnicode_AsEncodedString(s, "utf-8", "surrogateescape");
  if (!b) {
    PyErr_Clear();
    b = PyUnicode_AsEncodedString(s, "utf-8", "backslashreplace");  // other lone surrogates
  }
  if (!b) {
    PyErr_Clear();
    return "<undecodable str>";
  }
  std::string_view raw(PyBytes_AS_STRING(b), size_t(PyBytes_GET_SIZE(b)));
  std::string out = escape_bytes(raw.substr(0, 2000)) + (raw.size() > 2000 ? "…" : "");
  Py_DECREF(b);
  return out;
}

// emit(kind: str, fields: dict)
PyObject* py_emit(PyObject*, PyObject* args) {
  const char* kind;
  PyObject* fields = nullptr;
  if (!PyArg_ParseTuple(args, "s|O!", &kind, &PyDict_Type, &fields)) return nullptr;
  nlohmann::json j = fields ? to_json(fields) : nlohmann::json::object();
  if (fields && j.is_object())
    for (const char* key : kMessageFields) {
      PyObject* v = PyDict_GetItemString(fields, key);  // borrowed
      if (v && PyUnicode_Check(v)) j[key] = message_bytes_text(v);
    }
  emit(kind, std::move(j));
  Py_RETURN_NONE;
}

// enter_phase(name: str, extra: dict | None)
PyObject* py_enter_phase(PyObject*, PyObject* args) {
  const char* name;
  PyObject* extra = nullptr;
  if (!PyArg_ParseTuple(args, "s|O!", &name, &PyDict_Type, &extra)) return nullptr;
  Phase p;
  if (!phase_from_name(name, &p)) {
    PyErr_Format(PyExc_ValueError, "unknown phase %s", name);
    return nullptr;
  }
  enter_phase(p, extra ? to_json(extra) : nlohmann::json::object());
  Py_RETURN_NONE;
}

PyObject* py_brepr(PyObject*, PyObject* args) {
  PyObject* obj;
  Py_ssize_t limit = Py_ssize_t(kReprLimit);
  if (!PyArg_ParseTuple(args, "O|n", &obj, &limit)) return nullptr;
  std::string r = bounded_repr(obj, size_t(limit > 0 ? limit : 1));
  return PyUnicode_DecodeUTF8(r.data(), Py_ssize_t(r.size()), "replace");
}

PyObject* py_callable_name(PyObject*, PyObject* obj) {
  std::string r = callable_name(obj);
  return PyUnicode_DecodeUTF8(r.data(), Py_ssize_t(r.size()), "replace");
}

PyObject* py_install_time_warp(PyObject*, PyObject* arg) {
  double cap = PyFloat_AsDouble(arg);
  if (cap == -1.0 && PyErr_Occurred()) return nullptr;
  if (!install_time_warp(cap)) {
    PyErr_SetString(PyExc_OSError, "the virtual clock could not be set up");
    return nullptr;
  }
  Py_RETURN_NONE;
}

PyObject* py_warp_advance(PyObject*, PyObject* arg) {
  double s = PyFloat_AsDouble(arg);
  if (s == -1.0 && PyErr_Occurred()) return nullptr;
  warp_advance(s);
  Py_RETURN_NONE;
}

PyObject* py_mark_harness_bindings(PyObject*, PyObject*) {
  mark_harness_bindings();
  Py_RETURN_NONE;
}

PyObject* py_real_monotonic(PyObject*, PyObject*) { return PyFloat_FromDouble(real_monotonic_s()); }
PyObject* py_max_real_sleep(PyObject*, PyObject*) { return PyFloat_FromDouble(warp_max_real_sleep()); }

PyMethodDef kMethods[] = {
    {"emit", py_emit, METH_VARARGS, "emit(kind, fields): one JSON line on the event pipe"},
    {"enter_phase", py_enter_phase, METH_VARARGS, "enter_phase(name, extra=None)"},
    {"brepr", py_brepr, METH_VARARGS, "brepr(obj, limit=300): bounded repr that runs no object code"},
    {"callable_name", py_callable_name, METH_O, "callable_name(obj): 'module.qualname'"},
    {"install_time_warp", py_install_time_warp, METH_O, "install_time_warp(max_real_sleep_s)"},
    {"warp_advance", py_warp_advance, METH_O, "warp_advance(seconds)"},
    {"mark_harness_bindings", py_mark_harness_bindings, METH_NOARGS, "what the harness bound so far stays at shutdown"},
    {"real_monotonic", py_real_monotonic, METH_NOARGS, "the unwarped monotonic clock"},
    {"max_real_sleep", py_max_real_sleep, METH_NOARGS, "longest real sleep under the time warp"},
    {nullptr, nullptr, 0, nullptr}};

PyModuleDef kModule = {PyModuleDef_HEAD_INIT, "_sitehooks", nullptr, -1, kMethods, nullptr, nullptr, nullptr, nullptr};

PyObject* init_module() { return PyModule_Create(&kModule); }

}  // namespace

bool register_native_module() { return PyImport_AppendInittab("_sitehooks", init_module) == 0; }

}  // namespace modelvet::harness
