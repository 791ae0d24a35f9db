#include "policies/glob.h"

#include <array>
#include <string_view>

namespace modelvet::policy {
namespace {

constexpr std::string_view kRegexSpecial = R"(\^$.|?*+()[]{})";

void append_literal(std::string& re, char c) {
  if (kRegexSpecial.find(c) != std::string_view::npos) re += '\\';
  re += c;
}

std::string escape_for_glob(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (std::string_view("*?[]{}\\,").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

// Copies a "[...]" class starting at glob[i] == '['; returns the index after ']'.
std::optional<size_t> append_class(const std::string& glob, size_t i, std::string& re) {
  size_t j = i + 1;
  std::string body;
  if (j < glob.size() && (glob[j] == '!' || glob[j] == '^')) {
    body += '^';
    ++j;
  }
  bool first = true;
  for (; j < glob.size(); ++j) {
    char c = glob[j];
    if (c == ']' && !first) break;
    first = false;
    if (c == '\\' || c == '[' || c == ']' || (c == '^' && body.empty())) body += '\\';
    body += c;
  }
  if (j >= glob.size()) return std::nullopt;
  re += '[' + body + ']';
  return j + 1;
}

}  // namespace

std::optional<std::string> glob_to_regex(const std::string& glob, std::string* error) {
  std::string re = "^";
  int brace_depth = 0;
  for (size_t i = 0; i < glob.size();) {
    char c = glob[i];
    if (c == '\\') {
      if (i + 1 >= glob.size()) {
        *error = "trailing backslash";
        return std::nullopt;
      }
      append_literal(re, glob[i + 1]);
      i += 2;
    } else if (c == '*' && i + 1 < glob.size() && glob[i + 1] == '*') {
      bool dir_prefix = i + 2 < glob.size() && glob[i + 2] == '/';
      re += dir_prefix ? "(?:.*/)?" : ".*";  // "**/" also matches zero directories
      i += dir_prefix ? 3 : 2;
    } else if (c == '*') {
      re += "[^/]*";
      ++i;
    } else if (c == '?') {
      re += "[^/]";
      ++i;
    } else if (c == '[') {
      auto next = append_class(glob, i, re);
      if (!next) {
        *error = "unterminated '['";
        return std::nullopt;
      }
      i = *next;
    } else if (c == '{') {
      re += "(?:";
      ++brace_depth;
      ++i;
    } else if (c == ',' && brace_depth > 0) {
      re += '|';
      ++i;
    } else if (c == '}' && brace_depth > 0) {
      re += ')';
      --brace_depth;
      ++i;
    } else {
      append_literal(re, c);
      ++i;
    }
  }
  if (brace_depth != 0) {
    *error = "unterminated '{'";
    return std::nullopt;
  }
  return re + "$";
}

namespace {

// "~" means the home at the start of the glob or of a "{…,…}" alternative.
bool is_home_tilde(const std::string& glob, size_t i) {
  if (glob[i] != '~') return false;
  bool starts = i == 0 || glob[i - 1] == '{' || glob[i - 1] == ',';
  bool ends = i + 1 == glob.size() || glob[i + 1] == '/' || glob[i + 1] == ',' || glob[i + 1] == '}';
  return starts && ends;
}

}  // namespace

bool glob_has_vars(const std::string& glob) {
  for (size_t i = 0; i < glob.size(); ++i)
    if (is_home_tilde(glob, i)) return true;
  return glob.find("$HOME") != std::string::npos ||
         glob.find("$SCRATCH") != std::string::npos || glob.find("$MODEL") != std::string::npos;
}

std::string expand_glob_vars(const std::string& glob, const GlobVars& vars) {
  std::string out;
  for (size_t i = 0; i < glob.size(); ++i) out += is_home_tilde(glob, i) ? std::string("$HOME") : std::string(1, glob[i]);
  const std::array<std::pair<std::string_view, const std::string*>, 3> names = {
      {{"$SCRATCH", &vars.scratch}, {"$MODEL", &vars.model}, {"$HOME", &vars.home}}};
  for (const auto& [name, value] : names) {
    for (size_t at = out.find(name); at != std::string::npos; at = out.find(name, at)) {
      std::string escaped = escape_for_glob(*value);
      out.replace(at, name.size(), escaped);
      at += escaped.size();
    }
  }
  return out;
}

}  // namespace modelvet::policy
