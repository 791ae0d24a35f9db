#pragma once
// The harness's Python modules (harness/_mv_*.py), compiled into the binary at build time.
#include <string>

namespace modelvet::harness {

// Executes every embedded module, in dependency order, as a top-level module of that name.
// Needs the GIL. On failure returns false and describes the Python error in *error.
bool load_embedded_modules(std::string* error);

// The Python exception currently set, as "Type: message" (and clears it).
std::string take_python_error();

}  // namespace modelvet::harness
