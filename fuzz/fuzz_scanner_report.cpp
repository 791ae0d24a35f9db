// Other scanners' reports as batch inputs (verifier/inputs.cpp): picklescan's text output
// (`FILE: dangerous import 'module name' FOUND`) and modelscan's JSON ({"issues": [...]}),
// with the member names they report stripped to files, and the priors they become.
#include "fuzz/fuzz_support.h"
#include "fuzz/fuzz_inputs_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const char* const kNames[] = {"picklescan.log", "picklescan.txt", "modelscan.json"};
  modelvet::fuzz::expand_one(kNames[data[0] % 3], modelvet::fuzz::as_bytes(data + 1, size - 1));
  return 0;
}
