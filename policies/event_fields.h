#pragma once
// The fields each event kind carries (trace/event.h, the tracer's decoder, the harness and
// the fake network), plus the ones the engine derives. Lint uses it to catch misspelt fields.
#include <string>
#include <utility>
#include <vector>

namespace modelvet::policy {

bool is_known_kind(const std::string& kind);
// (source, kind) of every kind described here: the same set as trace/event.h's registry (tested).
std::vector<std::pair<std::string, std::string>> described_kinds();
// True when some event of one of these kinds (from one of these sources, if any are given)
// has the field.
bool field_known_for(const std::string& field, const std::vector<std::string>& sources,
                     const std::vector<std::string>& kinds);

}  // namespace modelvet::policy
