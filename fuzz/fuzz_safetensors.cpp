// safetensors header validation (prescan/safetensors.cpp): a hostile length, JSON, dtypes,
// shapes and offsets, then the same bytes through the sniffer that decides "no code path".
#include "fuzz/fuzz_support.h"
#include "prescan/internal.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modelvet::prescan;
  std::string_view bytes = modelvet::fuzz::as_bytes(data, size);
  (void)check_safetensors(bytes);
  // The fuzzer rarely guesses a plausible length prefix: also try the input as a header.
  std::string framed = std::string(8, '\0') + std::string(bytes);
  uint64_t n = size;
  for (int i = 0; i < 8; ++i) framed[i] = char(n >> (8 * i));
  (void)check_safetensors(framed);
  (void)sniff_bytes(framed, "model.safetensors");
  return 0;
}
