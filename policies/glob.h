#pragma once
// Path globs as policies write them: "**" crosses directories, "*" and "?" stay inside one,
// "[a-z]" and "{pt,bin}" as in shells, "\" escapes. "~" (leading, or leading a {…} alternative), "$HOME", "$SCRATCH" and
// "$MODEL" stand for the run's decoy home, scratch directory and model path.
#include <optional>
#include <string>

namespace modelvet::policy {

struct GlobVars {
  std::string home, scratch, model;
};

// An anchored ECMAScript regex equivalent to the glob, or nullopt with *error.
std::optional<std::string> glob_to_regex(const std::string& glob, std::string* error);

// True when the glob mentions "~", "$HOME", "$SCRATCH" or "$MODEL".
bool glob_has_vars(const std::string& glob);

// The glob with its variables replaced by the run's values (escaped, so a "*" in a model
// path stays literal).
std::string expand_glob_vars(const std::string& glob, const GlobVars& vars);

}  // namespace modelvet::policy
