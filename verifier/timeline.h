#pragma once
// `replay --show`: a readable timeline of one trace (phases, process tree, network, files, calls).
#include <string>

#include <nlohmann/json.hpp>

#include "trace/trace.h"

namespace modelvet {
std::string render_timeline(const Trace& trace, const nlohmann::json& result);
}
