// A trace's first line through the typed header reader (trace/header.cpp: header_from_json),
// and back out through its writer.
#include "fuzz/fuzz_support.h"
#include "trace/header.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  nlohmann::json j = nlohmann::json::parse(modelvet::fuzz::as_bytes(data, size), nullptr, false);
  if (j.is_discarded()) return 0;
  modelvet::TraceHeader h;
  std::string error;
  if (modelvet::header_from_json(j, &h, &error))
    (void)modelvet::to_json(h).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return 0;
}
