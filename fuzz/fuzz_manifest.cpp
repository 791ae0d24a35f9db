// Batch manifests (verifier/inputs.cpp: expand_manifest): `.jsonl` lines of {"path", "prior"}
// and `.txt` path lists, expanded, de-duplicated with their priors merged, and reclassified.
#include "fuzz/fuzz_support.h"
#include "fuzz/fuzz_inputs_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // The first byte picks the manifest kind; the rest is the manifest.
  modelvet::fuzz::expand_one(data[0] & 1 ? "manifest.jsonl" : "list.txt", modelvet::fuzz::as_bytes(data + 1, size - 1));
  return 0;
}
