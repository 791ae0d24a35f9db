#pragma once
// Turns a trace into one result object of SPEC.md's "results" array. The same function serves
// `scan` (fresh trace) and `replay` (trace from disk), so a replay reaches the same verdict.
#include <nlohmann/json.hpp>

#include "policies/policy.h"
#include "trace/trace.h"

namespace modelvet {

nlohmann::json classify(const Trace& trace, const policy::Policy& policy);

// A result for a file that never reached detonation (unreadable, empty, unsupported, no sandbox).
nlohmann::json error_result(const nlohmann::json& sample, const std::string& reason);

// A `benign` result decided by the pre-scan alone: the content itself proves no victim's loader
// runs code from it (a valid safetensors header, HDF5 data). Nothing was detonated, and it says so.
nlohmann::json no_code_path_result(const nlohmann::json& sample, const nlohmann::json& static_scan, const std::string& reason);

}  // namespace modelvet
