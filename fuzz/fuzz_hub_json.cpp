// Hub JSON: paths-info / tree listings with securityFileStatus (verifier/inputs.cpp), the priors
// they become (verifier/reclassify.cpp), and Hub cache names (verifier/hf_cache.cpp: hf_display).
#include "fuzz/fuzz_support.h"
#include "fuzz/fuzz_inputs_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modelvet;
  std::string_view bytes = fuzz::as_bytes(data, size);
  fuzz::expand_one("paths-info.json", bytes);
  (void)hf_display(std::string(bytes));
  // The same document as priors in memory: every status object, merged pairwise as duplicates are.
  nlohmann::json doc = nlohmann::json::parse(bytes, nullptr, false);
  if (doc.is_discarded()) return 0;
  nlohmann::json merged = nullptr;
  for (const auto& e : doc.is_array() ? doc : nlohmann::json::array({doc})) {
    nlohmann::json prior = e.is_object() && e.contains("securityFileStatus") ? e["securityFileStatus"] : e;
    (void)prior_stance(prior);
    merged = merge_priors(merged, prior);
  }
  (void)reclassification(merged, "benign");
  return 0;
}
