#pragma once
// Describing Python objects for evidence without running any of their code: no __repr__,
// no __getattr__, only the interpreter's own structures. The payload's objects are hostile.
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string>

#include <nlohmann/json.hpp>

namespace modelvet::harness {

inline constexpr size_t kReprLimit = 300;

// A repr-like string of at most ~limit characters.
std::string bounded_repr(PyObject* obj, size_t limit = kReprLimit);

// "posix.system", "builtins.getattr", "str.upper", "collections.OrderedDict", "T.__call__".
std::string callable_name(PyObject* callable);

// str/int/float/bool/None/list/tuple/dict as JSON; anything else as its bounded repr.
nlohmann::json to_json(PyObject* obj, int depth = 0);

// "file:line in func" of the innermost Python frame, or "" when none.
std::string current_python_frame();

}  // namespace modelvet::harness
