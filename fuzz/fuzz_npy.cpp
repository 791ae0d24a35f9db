// The .npy header parser (prescan/npy.cpp) and, for object arrays, the pickle after it.
#include "fuzz/fuzz_support.h"
#include "prescan/internal.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modelvet::prescan;
  std::string_view bytes = modelvet::fuzz::as_bytes(data, size);
  NpyHeader h = parse_npy_header(bytes);
  if (h.ok && h.has_object && h.data_offset <= bytes.size()) (void)disassemble_pickle(bytes.substr(h.data_offset));
  return 0;
}
