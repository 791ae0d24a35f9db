#include "harness/py_describe.h"

#include <frameobject.h>

#include <fmt/format.h>

namespace modelvet::harness {
namespace {

constexpr int kMaxDepth = 3;
constexpr Py_ssize_t kMaxItems = 16;

// UTF-8 of a str (subclasses too) without calling Python code; lone surrogates are replaced.
std::string utf8_of(PyObject* s) {
  Py_ssize_t n = 0;
  const char* p = PyUnicode_AsUTF8AndSize(s, &n);
  if (p) return std::string(p, size_t(n));
  PyErr_Clear();
  PyObject* b = PyUnicode_AsEncodedString(s, "utf-8", "backslashreplace");
  if (!b) {
    PyErr_Clear();
    return "<undecodable str>";
  }
  std::string out(PyBytes_AS_STRING(b), size_t(PyBytes_GET_SIZE(b)));
  Py_DECREF(b);
  return out;
}

std::string type_name(PyObject* obj) { return Py_TYPE(obj)->tp_name; }

std::string qualified_type_name(PyTypeObject* t) {
  std::string module, qual;
  if (t->tp_flags & Py_TPFLAGS_HEAPTYPE) {
    PyObject* q = reinterpret_cast<PyHeapTypeObject*>(t)->ht_qualname;
    if (q && PyUnicode_Check(q)) qual = utf8_of(q);
    PyObject* m = t->tp_dict ? PyDict_GetItemString(t->tp_dict, "__module__") : nullptr;  // borrowed
    if (m && PyUnicode_Check(m)) module = utf8_of(m);
    if (qual.empty()) qual = t->tp_name;
  } else {
    std::string full = t->tp_name;
    auto dot = full.rfind('.');
    if (dot == std::string::npos) return "builtins." + full;
    return full;
  }
  return module.empty() ? qual : module + "." + qual;
}

// Appends with escapes like repr(); stops adding once `out` reaches `limit`.
void append_quoted(std::string& out, const char* p, size_t n, size_t limit, bool bytes) {
  if (bytes) out += 'b';
  out += '\'';
  for (size_t i = 0; i < n && out.size() < limit; ++i) {
    unsigned char c = static_cast<unsigned char>(p[i]);
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\'': out += "\\'"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f || (bytes && c >= 0x80))
          out += fmt::format("\\x{:02x}", c);
        else
          out += char(c);
    }
  }
  out += '\'';
}

void repr_into(std::string& out, PyObject* obj, size_t limit, int depth);

void repr_sequence(std::string& out, PyObject* seq, size_t limit, int depth, char open, char close) {
  Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
  PyObject** items = PySequence_Fast_ITEMS(seq);
  out += open;
  for (Py_ssize_t i = 0; i < n && out.size() < limit; ++i) {
    if (i) out += ", ";
    if (i >= kMaxItems) {
      out += fmt::format("…{} more", n - i);
      break;
    }
    repr_into(out, items[i], limit, depth + 1);
  }
  if (open == '(' && n == 1) out += ',';
  out += close;
}

void repr_into(std::string& out, PyObject* obj, size_t limit, int depth) {
  if (out.size() >= limit) return;
  if (depth > kMaxDepth) {
    out += "…";
    return;
  }
  if (obj == Py_None) {
    out += "None";
  } else if (PyBool_Check(obj)) {
    out += obj == Py_True ? "True" : "False";
  } else if (PyUnicode_Check(obj)) {
    std::string s = utf8_of(obj);
    append_quoted(out, s.data(), s.size(), limit, false);
  } else if (PyBytes_Check(obj)) {
    append_quoted(out, PyBytes_AS_STRING(obj), size_t(PyBytes_GET_SIZE(obj)), limit, true);
  } else if (PyByteArray_Check(obj)) {
    out += "bytearray(";
    append_quoted(out, PyByteArray_AS_STRING(obj), size_t(PyByteArray_GET_SIZE(obj)), limit, true);
    out += ")";
  } else if (PyLong_Check(obj) || PyFloat_Check(obj)) {
    // The base type's repr, never a subclass's override.
    PyObject* r = PyLong_Check(obj) ? PyLong_Type.tp_repr(obj) : PyFloat_Type.tp_repr(obj);
    if (r) {
      out += utf8_of(r);
      Py_DECREF(r);
    } else {
      PyErr_Clear();
      out += "<number>";
    }
  } else if (PyTuple_Check(obj)) {
    repr_sequence(out, obj, limit, depth, '(', ')');
  } else if (PyList_Check(obj)) {
    repr_sequence(out, obj, limit, depth, '[', ']');
  } else if (PyDict_Check(obj)) {
    out += '{';
    Py_ssize_t pos = 0, i = 0;
    PyObject *k, *v;
    while (PyDict_Next(obj, &pos, &k, &v) && out.size() < limit) {
      if (i) out += ", ";
      if (i++ >= kMaxItems) {
        out += "…";
        break;
      }
      repr_into(out, k, limit, depth + 1);
      out += ": ";
      repr_into(out, v, limit, depth + 1);
    }
    out += '}';
  } else if (PyCode_Check(obj)) {
    auto* code = reinterpret_cast<PyCodeObject*>(obj);
    out += fmt::format("<code {} at {}:{}>", utf8_of(code->co_name), utf8_of(code->co_filename), code->co_firstlineno);
  } else if (PyType_Check(obj)) {
    out += "<class '" + qualified_type_name(reinterpret_cast<PyTypeObject*>(obj)) + "'>";
  } else if (PyModule_Check(obj)) {
    const char* name = PyModule_GetName(obj);
    if (!name) PyErr_Clear();
    out += fmt::format("<module '{}'>", name ? name : "?");
  } else if (PyFunction_Check(obj) || PyCFunction_Check(obj) || PyMethod_Check(obj)) {
    out += "<function " + callable_name(obj) + ">";
  } else {
    out += "<" + type_name(obj) + " object>";
  }
}

}  // namespace

std::string bounded_repr(PyObject* obj, size_t limit) {
  std::string out;
  if (!obj) return "<NULL>";
  repr_into(out, obj, limit, 0);
  if (out.size() > limit) {
    // Cut on a UTF-8 boundary.
    size_t cut = limit;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
    out.resize(cut);
    out += "…";
  }
  return out;
}

std::string callable_name(PyObject* f) {
  if (!f) return "?";
  if (PyCFunction_Check(f)) {
    auto* cf = reinterpret_cast<PyCFunctionObject*>(f);
    std::string name = cf->m_ml && cf->m_ml->ml_name ? cf->m_ml->ml_name : "?";
    PyObject* self = cf->m_self;
    if (self && !PyModule_Check(self)) {  // a bound builtin method: 'abc'.upper -> str.upper
      std::string owner = qualified_type_name(PyType_Check(self) ? reinterpret_cast<PyTypeObject*>(self) : Py_TYPE(self));
      if (owner.starts_with("builtins.")) owner.erase(0, 9);
      return owner + "." + name;
    }
    if (cf->m_module && PyUnicode_Check(cf->m_module)) return utf8_of(cf->m_module) + "." + name;
    if (self && PyModule_Check(self)) {
      const char* m = PyModule_GetName(self);
      if (!m) PyErr_Clear();
      return std::string(m ? m : "?") + "." + name;
    }
    return name;
  }
  if (PyFunction_Check(f)) {
    PyObject* module = PyFunction_GET_MODULE(f);
    auto* fn = reinterpret_cast<PyFunctionObject*>(f);
    std::string qual = fn->func_qualname && PyUnicode_Check(fn->func_qualname) ? utf8_of(fn->func_qualname) : "?";
    if (module && PyUnicode_Check(module)) return utf8_of(module) + "." + qual;
    return qual;
  }
  if (PyMethod_Check(f)) return callable_name(PyMethod_GET_FUNCTION(f));
  if (PyType_Check(f)) return qualified_type_name(reinterpret_cast<PyTypeObject*>(f));
  if (Py_IS_TYPE(f, &PyMethodDescr_Type) || Py_IS_TYPE(f, &PyClassMethodDescr_Type)) {
    auto* d = reinterpret_cast<PyMethodDescrObject*>(f);
    return qualified_type_name(PyDescr_TYPE(d)) + "." + (d->d_method && d->d_method->ml_name ? d->d_method->ml_name : "?");
  }
  return qualified_type_name(Py_TYPE(f)) + ".__call__";
}

nlohmann::json to_json(PyObject* obj, int depth) {
  if (!obj || obj == Py_None) return nullptr;
  if (PyBool_Check(obj)) return obj == Py_True;
  if (PyUnicode_Check(obj)) {
    std::string s = utf8_of(obj);
    if (s.size() > 2000) s = s.substr(0, 2000) + "…";
    return s;
  }
  if (PyLong_Check(obj)) {
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(obj, &overflow);
    if (!overflow && !(v == -1 && PyErr_Occurred())) return v;
    PyErr_Clear();
    return bounded_repr(obj);
  }
  if (PyFloat_Check(obj)) return PyFloat_AS_DOUBLE(obj);
  if (depth < 4 && (PyList_Check(obj) || PyTuple_Check(obj))) {
    nlohmann::json arr = nlohmann::json::array();
    Py_ssize_t n = PySequence_Fast_GET_SIZE(obj);
    for (Py_ssize_t i = 0; i < n && i < 64; ++i) arr.push_back(to_json(PySequence_Fast_ITEMS(obj)[i], depth + 1));
    return arr;
  }
  if (depth < 4 && PyDict_Check(obj)) {
    nlohmann::json o = nlohmann::json::object();
    Py_ssize_t pos = 0, i = 0;
    PyObject *k, *v;
    while (PyDict_Next(obj, &pos, &k, &v) && i++ < 64)
      o[PyUnicode_Check(k) ? utf8_of(k) : bounded_repr(k, 80)] = to_json(v, depth + 1);
    return o;
  }
  return bounded_repr(obj);
}

std::string current_python_frame() {
  PyFrameObject* frame = PyEval_GetFrame();  // borrowed
  if (!frame) return "";
  PyCodeObject* code = PyFrame_GetCode(frame);  // new reference
  std::string where = fmt::format("{}:{} in {}", utf8_of(code->co_filename), PyFrame_GetLineNumber(frame), utf8_of(code->co_name));
  Py_DECREF(code);
  return where;
}

}  // namespace modelvet::harness
