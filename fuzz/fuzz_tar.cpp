// Tar archives (legacy torch checkpoints are tars) through prescan's libarchive walker, and the
// single compressed streams (gzip/bzip2/xz/lzma/zlib: joblib) it decompresses.
#include "fuzz/fuzz_support.h"
#include "prescan/internal.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modelvet::prescan;
  std::string_view bytes = modelvet::fuzz::as_bytes(data, size);
  auto keep = [](const std::string&, std::string_view head) { return has_pickle_magic(head) || head.size() < 64; };
  (void)read_archive(bytes, ArchiveKind::kTar, keep, 1 << 20, 4 << 20);
  std::string codec;
  (void)decompress_stream(bytes, 1 << 20, codec);
  return 0;
}
