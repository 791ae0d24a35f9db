// 7z archives through prescan's libarchive walker (prescan/archive.cpp), every member kept.
#include "fuzz/fuzz_support.h"
#include "prescan/internal.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modelvet::prescan;
  auto keep = [](const std::string&, std::string_view) { return true; };
  (void)read_archive(modelvet::fuzz::as_bytes(data, size), ArchiveKind::kSevenZip, keep, 1 << 20, 4 << 20);
  return 0;
}
