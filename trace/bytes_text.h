#pragma once
// Bytes carried as text: the one escaping every untrusted byte string (paths, argv, file names,
// DNS names, payload previews, exception text) goes through before it enters an event, a trace
// or a report. The result is always valid UTF-8, and unescape_bytes gives the exact bytes back.
//
// The scheme ("bytes text", docs/SPEC.md):
//   `\`                          -> `\\`
//   newline, CR, tab             -> `\n`, `\r`, `\t`
//   any other byte that is a C0 control, DEL, a C1 control's byte (U+0080–U+009F), or
//   not part of a well-formed UTF-8 sequence (overlong, surrogate, > U+10FFFF, truncated)
//                                -> `\xNN` (two lowercase hex digits, one per byte)
//   everything else (printable ASCII, well-formed UTF-8)  -> itself
// escape_ascii is the same scheme with every byte outside printable ASCII as `\xNN` (payloads
// and previews, where the bytes are a protocol's, not text).
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace modelvet {

std::string escape_bytes(std::string_view bytes);
std::string escape_ascii(std::string_view bytes);
// escape_ascii cut to at most max_len characters without splitting an escape.
std::string escape_ascii_prefix(std::string_view bytes, size_t max_len);

// The exact bytes back. Decodes `\\`, `\n`, `\r`, `\t` and `\xNN`; a backslash followed by
// anything else (a truncated escape) is kept as it is and *ok, when given, is set false.
std::string unescape_bytes(std::string_view text, bool* ok = nullptr);

bool is_valid_utf8(std::string_view s);

// The last guard before JSON is written: every string value or key that is not valid UTF-8
// (one that did not come through escape_bytes where it entered) is replaced by its bytes text,
// so nothing is lost to U+FFFD and no serialiser throws. Valid strings are left as they are.
void escape_invalid_strings(nlohmann::json& j);

}  // namespace modelvet
