#include "trace/bytes_text.h"

#include <vector>

namespace modelvet {
namespace {

constexpr char kHex[] = "0123456789abcdef";

void put_hex(std::string& out, unsigned char c) {
  out += "\\x";
  out += kHex[c >> 4];
  out += kHex[c & 15];
}

// Length of the well-formed UTF-8 sequence starting at s[i] (RFC 3629: no overlongs, no
// surrogates, nothing above U+10FFFF), or 0 when there is none.
size_t utf8_sequence(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  unsigned char c = b(0);
  size_t n = c < 0x80 ? 1 : (c >= 0xc2 && c <= 0xdf) ? 2 : (c >= 0xe0 && c <= 0xef) ? 3 : (c >= 0xf0 && c <= 0xf4) ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k)
    if ((b(k) & 0xc0) != 0x80) return 0;
  if (n == 3 && c == 0xe0 && b(1) < 0xa0) return 0;   // overlong
  if (n == 3 && c == 0xed && b(1) >= 0xa0) return 0;  // UTF-16 surrogate
  if (n == 4 && c == 0xf0 && b(1) < 0x90) return 0;   // overlong
  if (n == 4 && c == 0xf4 && b(1) >= 0x90) return 0;  // above U+10FFFF
  return n;
}

// Appends the escape of one ASCII byte; true when it was one (the caller handles the rest).
bool put_ascii(std::string& out, unsigned char c) {
  switch (c) {
    case '\\': out += "\\\\"; return true;
    case '\n': out += "\\n"; return true;
    case '\r': out += "\\r"; return true;
    case '\t': out += "\\t"; return true;
    default: break;
  }
  if (c < 0x20 || c == 0x7f) {
    put_hex(out, c);
    return true;
  }
  if (c < 0x80) {
    out += char(c);
    return true;
  }
  return false;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string escape_bytes(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (put_ascii(out, c)) {
      ++i;
      continue;
    }
    size_t n = utf8_sequence(s, i);
    bool c1 = n == 2 && c == 0xc2 && static_cast<unsigned char>(s[i + 1]) < 0xa0;  // U+0080–U+009F
    if (n == 0) {
      put_hex(out, c);
      ++i;
    } else if (c1) {
      put_hex(out, c);
      put_hex(out, static_cast<unsigned char>(s[i + 1]));
      i += 2;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

std::string escape_ascii(std::string_view s) { return escape_ascii_prefix(s, std::string::npos); }

std::string escape_ascii_prefix(std::string_view s, size_t max_len) {
  std::string out, one;
  for (size_t i = 0; i < s.size(); ++i) {
    one.clear();
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (!put_ascii(one, c)) put_hex(one, c);
    if (max_len != std::string::npos && out.size() + one.size() > max_len) break;
    out += one;
  }
  return out;
}

std::string unescape_bytes(std::string_view t, bool* ok) {
  if (ok) *ok = true;
  std::string out;
  out.reserve(t.size());
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i] != '\\' || i + 1 >= t.size()) {
      if (t[i] == '\\' && ok) *ok = false;
      out += t[i];
      continue;
    }
    char n = t[i + 1];
    if (n == '\\') out += '\\', ++i;
    else if (n == 'n') out += '\n', ++i;
    else if (n == 'r') out += '\r', ++i;
    else if (n == 't') out += '\t', ++i;
    else if (n == 'x' && i + 3 < t.size() && hex_value(t[i + 2]) >= 0 && hex_value(t[i + 3]) >= 0) {
      out += char(hex_value(t[i + 2]) * 16 + hex_value(t[i + 3]));
      i += 3;
    } else {
      if (ok) *ok = false;
      out += t[i];
    }
  }
  return out;
}

bool is_valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    size_t n = utf8_sequence(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

void escape_invalid_strings(nlohmann::json& j) {
  if (j.is_string()) {
    auto& s = j.get_ref<std::string&>();
    if (!is_valid_utf8(s)) s = escape_bytes(s);
  } else if (j.is_array()) {
    for (auto& v : j) escape_invalid_strings(v);
  } else if (j.is_object()) {
    std::vector<std::string> bad_keys;
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (!is_valid_utf8(it.key())) bad_keys.push_back(it.key());
      escape_invalid_strings(it.value());
    }
    for (const auto& k : bad_keys) {
      nlohmann::json v = std::move(j[k]);
      j.erase(k);
      j[escape_bytes(k)] = std::move(v);
    }
  }
}

}  // namespace modelvet
