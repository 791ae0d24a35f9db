#pragma once
// What batch does with each file its inputs name (verifier/inputs.cpp, reclassify.cpp): the
// reported name, the prior's stance, its reclassification under every verdict, the summary.
#include <string>
#include <vector>

#include "verifier/hf_cache.h"
#include "verifier/inputs.h"
#include "verifier/reclassify.h"

namespace modelvet::fuzz {

inline void judge_priors(const std::vector<InputFile>& files) {
  BatchSummary summary;
  for (const auto& f : files) {
    (void)hf_display(f.path);
    (void)prior_stance(f.prior);
    for (const char* verdict : {"malicious", "suspicious", "benign", "error"}) {
      (void)reclassification(f.prior, verdict);
      summary.add({{"path", f.display}, {"verdict", verdict}, {"prior", f.prior}});
    }
  }
  (void)summary.to_json();
  (void)summary.line();
}

// The batch input expansion of one file named `name` holding `bytes`.
inline void expand_one(const std::string& name, std::string_view bytes) {
  std::string path = ScratchDir::get().write(name, bytes);
  std::vector<std::string> errors;
  ExpandStats stats;
  judge_priors(expand_batch_raw({path}, &errors, &stats));
}

}  // namespace modelvet::fuzz
