// Format sniffing (prescan/sniff.cpp) on a file's head, under each name hint the tie-breaks use.
#include "fuzz/fuzz_support.h"
#include "prescan/prescan.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modelvet::prescan;
  static const char* const kNames[] = {"model.bin", "model.pt", "model.pkl", "model.joblib", "model.npy",
                                       "model.npz", "model.h5", "model.keras", "model.pdparams", "model.7z",
                                       "model.tar", "model.dill", "saved_model.pb", "model.json", "noext"};
  if (size == 0) return 0;
  // The first byte picks the name hint; the rest is the head.
  const char* name = kNames[data[0] % (sizeof(kNames) / sizeof(kNames[0]))];
  (void)sniff_bytes(modelvet::fuzz::as_bytes(data + 1, size - 1), name);
  return 0;
}
