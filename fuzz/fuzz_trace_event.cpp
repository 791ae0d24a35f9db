// One trace line through the strict event reader (trace/event.cpp: read_event).
#include "fuzz/fuzz_support.h"
#include "trace/event.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  nlohmann::json j = nlohmann::json::parse(modelvet::fuzz::as_bytes(data, size), nullptr, false);
  if (j.is_discarded()) return 0;
  modelvet::Event e;
  std::string error;
  if (modelvet::read_event(j, &e, &error)) (void)modelvet::to_json(e).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return 0;
}
