#include "policies/evidence.h"

#include <fmt/core.h>

#include "policies/timeline.h"

namespace modelvet::policy {
namespace {

constexpr size_t kMaxEvidence = 400;

std::string value_text(const nlohmann::json& v, const std::string& key, const std::string& home) {
  if (v.is_string()) {
    bool path_like = key == "path" || key == "new_path" || key == "filename" || key == "resolved" || key == "paths";
    return path_like ? display_path(v.get<std::string>(), home) : v.get<std::string>();
  }
  if (v.is_array()) {
    std::string out;
    for (const auto& e : v) {
      if (!out.empty()) out += ' ';
      out += value_text(e, key, home);
    }
    return out;
  }
  return v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

std::string printable(const std::string& s, size_t max_len) {
  std::string out;
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) out += fmt::format("\\x{:02x}", c);
    else out += static_cast<char>(c);
  }
  if (out.size() <= max_len) return out;
  size_t cut = max_len;
  while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xc0) == 0x80) --cut;  // not inside a UTF-8 sequence
  return out.substr(0, cut) + "…";
}

std::string render_template(const std::string& text, const nlohmann::json& view, const std::string& home) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    size_t close = text[i] == '{' ? text.find('}', i) : std::string::npos;
    if (close == std::string::npos) {
      out += text[i];
      continue;
    }
    std::string key = text.substr(i + 1, close - i - 1);
    auto it = view.find(key);
    out += it == view.end() || it->is_null() ? "?" : printable(value_text(*it, key, home));
    i = close;
  }
  return printable(out, kMaxEvidence);
}

std::string join_sentence(const std::vector<std::string>& parts) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += i + 1 == parts.size() ? " and " : ", ";
    out += parts[i];
  }
  return out;
}

}  // namespace modelvet::policy
