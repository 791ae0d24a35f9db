// The lenient zip reader (prescan/zip_reader.cpp): central directory, local headers, zip64,
// stored and deflated members with their CRCs.
#include "fuzz/fuzz_support.h"
#include "prescan/internal.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modelvet::prescan;
  std::string_view bytes = modelvet::fuzz::as_bytes(data, size);
  ZipListing listing = read_zip_directory(bytes);
  size_t n = 0;
  for (const auto& m : listing.members) {
    if (++n > 64) break;  // the walker's own member cap is larger; 64 keeps one input fast
    (void)read_zip_member(bytes, m, 4096, 1 << 20);
  }
  return 0;
}
