// libFuzzer entry: hostile bytes into the pickle disassembler and, through prescan_bytes, into
// the sniffer and every container walker (zip, 7z, tar, npy, H5). Built only with
// -DMODELVET_FUZZ=ON and clang.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "prescan/internal.h"
#include "prescan/prescan.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modelvet::prescan;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  PickleScan scan = disassemble_pickle(bytes);
  for (const auto& g : scan.globals) (void)scanner_flags(g);
  (void)prescan_bytes(bytes, "fuzz.bin", 1 << 20).to_json();
  return 0;
}
