#pragma once
// `_sitehooks`: the builtin module through which the harness's Python half reports. Everything
// that must survive a payload tampering with Python (writing events, describing objects,
// the clocks) is done here in C.
namespace modelvet::harness {

// Must be called before the interpreter is initialised.
bool register_native_module();

}  // namespace modelvet::harness
