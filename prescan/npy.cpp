// The .npy header: magic, version, a Python-literal dict with 'descr', 'fortran_order' and
// 'shape'. An object dtype ('O') means numpy.load(allow_pickle=True) unpickles what follows.
#include <fmt/format.h>

#include "prescan/internal.h"

namespace modelvet::prescan {
namespace {

// Is this dtype string an object type ('O', '|O', '<O8'...)?
bool is_object_type(std::string_view t) {
  if (!t.empty() && (t[0] == '<' || t[0] == '>' || t[0] == '|' || t[0] == '=')) t.remove_prefix(1);
  if (t.empty() || t[0] != 'O') return false;
  for (char c : t.substr(1))
    if (c < '0' || c > '9') return false;
  return true;
}

// The text of the value following `key` in the header dict: a quoted string or a [...] list.
std::string value_after(std::string_view dict, std::string_view key) {
  size_t k = dict.find(key);
  if (k == std::string_view::npos) return {};
  size_t p = dict.find(':', k + key.size());
  if (p == std::string_view::npos) return {};
  ++p;
  while (p < dict.size() && dict[p] == ' ') ++p;
  if (p >= dict.size()) return {};
  if (dict[p] == '\'' || dict[p] == '"') {
    size_t end = dict.find(dict[p], p + 1);
    return std::string(dict.substr(p + 1, end == std::string_view::npos ? std::string_view::npos : end - p - 1));
  }
  if (dict[p] == '[') {
    int depth = 0;
    for (size_t q = p; q < dict.size(); ++q) {
      if (dict[q] == '[' || dict[q] == '(') ++depth;
      if ((dict[q] == ']' || dict[q] == ')') && --depth == 0) return std::string(dict.substr(p, q - p + 1));
    }
  }
  return std::string(dict.substr(p, dict.find(',', p) - p));
}

// Any quoted token of a structured descr that is an object type.
bool descr_has_object(std::string_view descr) {
  if (descr.empty() || descr[0] != '[') return is_object_type(descr);
  for (size_t p = 0; p < descr.size(); ++p) {
    if (descr[p] != '\'' && descr[p] != '"') continue;
    size_t end = descr.find(descr[p], p + 1);
    if (end == std::string_view::npos) break;
    if (is_object_type(descr.substr(p + 1, end - p - 1))) return true;
    p = end;
  }
  return false;
}

}  // namespace

NpyHeader parse_npy_header(std::string_view b) {
  NpyHeader h;
  if (!starts_with(b, "\x93NUMPY") || b.size() < 10) {
    h.error = "no .npy magic";
    return h;
  }
  h.major = uint8_t(b[6]);
  h.minor = uint8_t(b[7]);
  size_t width = h.major == 1 ? 2 : 4;
  if (h.major < 1 || h.major > 3) h.error = fmt::format("unknown .npy version {}.{}", h.major, h.minor);
  if (b.size() < 8 + width) {
    h.error = "truncated .npy header";
    return h;
  }
  uint64_t len = read_le(b.substr(8, width));
  h.data_offset = 8 + width + len;
  if (h.data_offset > b.size()) {
    h.error = fmt::format("header length {} exceeds the file", len);
    return h;
  }
  h.dict = std::string(b.substr(8 + width, len));
  while (!h.dict.empty() && (h.dict.back() == '\n' || h.dict.back() == ' ')) h.dict.pop_back();
  h.descr = value_after(h.dict, "descr");
  h.has_object = descr_has_object(h.descr);
  h.ok = h.error.empty() && !h.descr.empty();
  if (h.descr.empty() && h.error.empty()) h.error = "header has no 'descr'";
  return h;
}

}  // namespace modelvet::prescan
