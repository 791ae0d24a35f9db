// safetensors: an 8-byte little-endian header length, a JSON header, then raw tensor bytes. No
// loader runs code from it, so a file whose header is fully consistent needs no detonation.
// Validated as strictly as the safetensors library does (and bounded before the JSON parser
// sees anything): a file that fails any check is not called safetensors-valid.
#include <algorithm>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "prescan/internal.h"

namespace modelvet::prescan {
namespace {

constexpr uint64_t kMaxHeader = 100u << 20;  // the safetensors library's own limit
constexpr int kMaxDepth = 4;                 // {name: {"shape": [..]}}: three levels; one spare
constexpr size_t kMaxTensors = 1u << 20;
constexpr size_t kMaxRank = 64;

// Bytes per element; sub-byte types (F4, F6) are counted in bits below.
const std::map<std::string, unsigned>& dtype_bits() {
  static const std::map<std::string, unsigned> bits = {
      {"BOOL", 8},     {"U8", 8},       {"I8", 8},       {"F8_E5M2", 8}, {"F8_E4M3", 8}, {"F8_E8M0", 8},
      {"E8M0", 8},     {"I16", 16},     {"U16", 16},     {"F16", 16},    {"BF16", 16},   {"I32", 32},
      {"U32", 32},     {"F32", 32},     {"C64", 64},     {"F64", 64},    {"I64", 64},    {"U64", 64},
      {"F4", 4},       {"F6_E2M3", 6},  {"F6_E3M2", 6}};
  return bits;
}

// Nesting depth of a JSON text, strings skipped: the header is flat, a deep one is hostile.
bool depth_within(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > max_depth) return false;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return true;
}

bool mul_overflows(uint64_t a, uint64_t b, uint64_t& out) { return __builtin_mul_overflow(a, b, &out); }

struct Span {
  uint64_t begin, end;
  std::string name;
};

std::string check_tensor(const std::string& name, const nlohmann::json& t, uint64_t data_size, Span& span) {
  if (!t.is_object()) return fmt::format("tensor '{}' is not an object", name);
  for (const auto& [key, _] : t.items())
    if (key != "dtype" && key != "shape" && key != "data_offsets") return fmt::format("tensor '{}' has unknown key '{}'", name, key);
  auto dtype = t.find("dtype"), shape = t.find("shape"), offsets = t.find("data_offsets");
  if (dtype == t.end() || !dtype->is_string()) return fmt::format("tensor '{}' has no dtype string", name);
  auto bits = dtype_bits().find(dtype->get<std::string>());
  if (bits == dtype_bits().end()) return fmt::format("tensor '{}' has unknown dtype '{}'", name, dtype->get<std::string>());
  if (shape == t.end() || !shape->is_array() || shape->size() > kMaxRank) return fmt::format("tensor '{}' has no valid shape", name);
  uint64_t elements = 1;
  for (const auto& d : *shape) {
    if (!d.is_number_unsigned()) return fmt::format("tensor '{}' has a non-integer dimension", name);
    if (mul_overflows(elements, d.get<uint64_t>(), elements)) return fmt::format("tensor '{}': shape overflows", name);
  }
  uint64_t total_bits = 0;
  if (mul_overflows(elements, bits->second, total_bits)) return fmt::format("tensor '{}': size overflows", name);
  if (offsets == t.end() || !offsets->is_array() || offsets->size() != 2 || !(*offsets)[0].is_number_unsigned() ||
      !(*offsets)[1].is_number_unsigned())
    return fmt::format("tensor '{}' has no [begin, end] data_offsets", name);
  span = {(*offsets)[0].get<uint64_t>(), (*offsets)[1].get<uint64_t>(), name};
  if (span.begin > span.end || span.end > data_size)
    return fmt::format("tensor '{}': data_offsets [{}, {}] outside the {} data bytes", name, span.begin, span.end, data_size);
  if ((total_bits + 7) / 8 != span.end - span.begin)
    return fmt::format("tensor '{}': {} bytes of data for a {} of {} elements", name, span.end - span.begin,
                       dtype->get<std::string>(), elements);
  return "";
}

}  // namespace

std::optional<SafetensorsCheck> check_safetensors(std::string_view b) {
  if (b.size() < 10 || b[8] != '{') return std::nullopt;
  uint64_t n = read_le(b.substr(0, 8));
  if (n < 2 || n > kMaxHeader) return std::nullopt;
  SafetensorsCheck c;
  auto fail = [&](std::string why) {
    c.error = std::move(why);
    return c;
  };
  if (n > b.size() - 8) return fail(fmt::format("header of {} bytes runs past the end of the file", n));
  std::string_view text = b.substr(8, n);
  if (!depth_within(text, kMaxDepth)) return fail("header nested deeper than a safetensors header is");
  // The library tolerates trailing spaces (it pads the header to 8 bytes).
  size_t last = text.find_last_not_of(' ');
  nlohmann::json header = nlohmann::json::parse(text.substr(0, last + 1), nullptr, false);
  if (header.is_discarded() || !header.is_object()) return fail("header is not a JSON object");
  if (header.size() > kMaxTensors) return fail("header names more tensors than any model has");
  uint64_t data_size = b.size() - 8 - n;
  std::vector<Span> spans;
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") {
      if (!value.is_object()) return fail("__metadata__ is not an object");
      for (const auto& [key, v] : value.items())
        if (!v.is_string()) return fail(fmt::format("__metadata__ value '{}' is not a string", key));
      c.metadata = value.size();
      continue;
    }
    Span span{};
    if (std::string why = check_tensor(name, value, data_size, span); !why.empty()) return fail(why);
    spans.push_back(std::move(span));
  }
  // The library requires the tensors to tile the data buffer exactly: no overlap, no gap.
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& x) { return a.begin != x.begin ? a.begin < x.begin : a.end < x.end; });
  uint64_t at = 0;
  for (const Span& s : spans) {
    if (s.begin < at) return fail(fmt::format("tensor '{}' overlaps the one before it", s.name));
    if (s.begin > at) return fail(fmt::format("{} bytes before tensor '{}' belong to no tensor", s.begin - at, s.name));
    at = s.end;
  }
  if (at != data_size) return fail(fmt::format("{} bytes after the last tensor belong to no tensor", data_size - at));
  c.valid = true;
  c.tensors = spans.size();
  return c;
}

}  // namespace modelvet::prescan
