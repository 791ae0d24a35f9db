// The pickle disassembler (prescan/pickle_disasm.cpp): protocols 0-5, stack and memo simulated
// without building objects, and the scanners' lists applied to every global it finds.
#include "fuzz/fuzz_support.h"
#include "prescan/internal.h"
#include "prescan/prescan.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modelvet::prescan;
  std::string_view bytes = modelvet::fuzz::as_bytes(data, size);
  PickleScan scan = disassemble_pickle(bytes);
  for (const auto& g : scan.globals) (void)scanner_flags(g);
  (void)looks_like_pickle(bytes.substr(0, 4096));
  PickleScan one;
  (void)pickle_stream_length(bytes, one);
  return 0;
}
