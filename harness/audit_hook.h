#pragma once
// The PEP 578 audit hook, installed from C before the interpreter starts so that nothing the
// model file does can run before it or remove it. It reports the events that matter for a
// verdict (processes, network, files, native code, dynamic code) as "audit" lines.
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string>

#include <nlohmann/json.hpp>

namespace modelvet::harness {

enum class Phase { setup, load, exercise, grace, shutdown };

const char* phase_name(Phase p);
bool phase_from_name(const std::string& name, Phase* out);

// Sets the phase and emits {"kind": "phase", "name": ..., ...extra}.
void enter_phase(Phase p, nlohmann::json extra = nlohmann::json::object());
Phase current_phase();

// For PySys_AddAuditHook; never raises, never leaves an exception set.
int audit_hook(const char* event, PyObject* args, void* user_data);

// While one is alive, the calling thread's own audit events are not reported: for the harness's
// calls that raise one (gc.get_objects at a forked jail's shutdown), never for the file's code.
class HarnessCallScope {
 public:
  HarnessCallScope();
  ~HarnessCallScope();
  HarnessCallScope(const HarnessCallScope&) = delete;
  HarnessCallScope& operator=(const HarnessCallScope&) = delete;

 private:
  bool was_;
};

// {"reported": n, "suppressed": {event: count}} for the shutdown summary.
nlohmann::json audit_summary();

}  // namespace modelvet::harness
