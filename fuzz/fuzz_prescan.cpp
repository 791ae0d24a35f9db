// The whole static pre-scan of a byte buffer (prescan_bytes): sniff, then every container walker
// (zip, 7z, tar, npz, legacy torch, npy, H5, compressed joblib) nested as the file nests them,
// and the report serialised as it would be into a trace.
#include "fuzz/fuzz_support.h"
#include "prescan/internal.h"
#include "prescan/prescan.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modelvet::prescan;
  static const char* const kNames[] = {"model.bin", "model.pt", "model.pkl", "model.joblib", "model.npz", "model.h5"};
  if (size == 0) return 0;
  const char* name = kNames[data[0] % (sizeof(kNames) / sizeof(kNames[0]))];
  Report r = prescan_bytes(modelvet::fuzz::as_bytes(data + 1, size - 1), name, 1 << 20);
  (void)r.to_json().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return 0;
}
