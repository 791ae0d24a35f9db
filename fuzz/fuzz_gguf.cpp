// GGUF metadata (prescan/gguf.cpp): hostile counts, lengths, types and nesting, then the same
// bytes through the sniffer and the report (the template flags, the JSON it is written into).
#include "fuzz/fuzz_support.h"
#include "prescan/internal.h"
#include "prescan/prescan.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modelvet::prescan;
  std::string_view bytes = modelvet::fuzz::as_bytes(data, size);
  (void)parse_gguf(bytes).to_json().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  // The fuzzer rarely guesses the magic and a version: also try the input behind a v3 header.
  std::string framed = std::string("GGUF\x03\x00\x00\x00", 8) + std::string(bytes);
  GgufMetadata m = parse_gguf(framed);
  (void)m.to_json().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  (void)chat_template_flags(bytes);
  (void)sniff_bytes(framed, "model.gguf");
  return 0;
}
