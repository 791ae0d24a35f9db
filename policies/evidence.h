#pragma once
// Evidence text from templates: "spawned {argv} ({filename})" filled from an event view.
// Every value is made safe to print: control bytes escaped, long values cut.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace modelvet::policy {

// Fills {field} placeholders; arrays are joined with spaces, paths under home shown as "~/…",
// a missing field as "?".
std::string render_template(const std::string& text, const nlohmann::json& view, const std::string& home);

// Control characters as \xNN, at most max_len bytes (cut on a UTF-8 boundary, "…" appended).
std::string printable(const std::string& s, size_t max_len = 160);

// "a", "a and b", "a, b and c".
std::string join_sentence(const std::vector<std::string>& parts);

}  // namespace modelvet::policy
