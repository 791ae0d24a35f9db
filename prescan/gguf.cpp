// GGUF metadata, bounded: every count and length is checked against the bytes left (each element
// takes at least its minimum encoded size) and against a hard cap before anything is reserved.
// Layout (ggml/docs/gguf.md): "GGUF", u32 version, then tensor count and key/value count (u64;
// u32 in version 1), key/values (string key, u32 type, value), tensor infos, aligned data.
#include "prescan/gguf.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "prescan/internal.h"

namespace modelvet::prescan {
namespace {

enum GgufType : uint32_t {
  kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7,
  kString = 8, kArray = 9, kU64 = 10, kI64 = 11, kF64 = 12,
};

const char* type_name(uint32_t t) {
  static const char* names[] = {"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
                                "bool", "string", "array", "uint64", "int64", "float64"};
  return t <= kF64 ? names[t] : "unknown";
}

// Encoded size of a fixed-width type; 0 for string/array/unknown.
uint64_t fixed_size(uint32_t t) {
  switch (t) {
    case kU8: case kI8: case kBool: return 1;
    case kU16: case kI16: return 2;
    case kU32: case kI32: case kF32: return 4;
    case kU64: case kI64: case kF64: return 8;
    default: return 0;
  }
}

class Reader {
 public:
  Reader(std::string_view b, bool big_endian, bool v1) : b_(b), big_(big_endian), v1_(v1) {}

  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  uint64_t pos() const { return pos_; }
  uint64_t left() const { return b_.size() - pos_; }

  bool fail(std::string why) {
    if (error_.empty()) error_ = fmt::format("{} (at byte {})", why, pos_);
    return false;
  }

  bool uint(unsigned width, uint64_t& out) {
    if (failed()) return false;
    if (left() < width) return fail(fmt::format("truncated: {} bytes needed, {} left", width, left()));
    out = 0;
    for (unsigned i = 0; i < width; ++i) {
      uint64_t byte = uint8_t(b_[pos_ + i]);
      out |= big_ ? byte << (8 * (width - 1 - i)) : byte << (8 * i);
    }
    pos_ += width;
    return true;
  }
  // Counts and lengths: u64, or u32 in GGUF version 1.
  bool length(uint64_t& out) { return uint(v1_ ? 4 : 8, out); }
  unsigned length_size() const { return v1_ ? 4 : 8; }

  bool skip(uint64_t n) {
    if (failed()) return false;
    if (n > left()) return fail(fmt::format("truncated: {} bytes declared, {} left", n, left()));
    pos_ += n;
    return true;
  }

  // A string: its declared length is checked against the cap and the bytes left; `keep` bytes copied.
  bool string(std::string& out, uint64_t& size, uint64_t keep) {
    if (!length(size)) return false;
    if (size > kGgufMaxStringBytes) return fail(fmt::format("string of {} bytes declared (cap {})", size, kGgufMaxStringBytes));
    if (size > left()) return fail(fmt::format("string of {} bytes declared, {} left", size, left()));
    out.assign(b_.data() + pos_, size_t(std::min(size, keep)));
    pos_ += size;
    return true;
  }

 private:
  std::string_view b_;
  uint64_t pos_ = 0;
  bool big_, v1_;
  std::string error_;
};

std::string printable(std::string_view s, size_t max) {
  std::string out;
  for (size_t i = 0; i < s.size() && out.size() < max; ++i) {
    unsigned char c = s[i];
    if (c == '\n') out += "\\n";
    else if (c < 0x20 || c == 0x7f) out += fmt::format("\\x{:02x}", c);
    else out += char(c);
  }
  if (s.size() > max) out += "…";
  return out;
}

std::string scalar_text(uint32_t t, uint64_t v) {
  switch (t) {
    case kI8: return std::to_string(int8_t(v));
    case kI16: return std::to_string(int16_t(v));
    case kI32: return std::to_string(int32_t(v));
    case kI64: return std::to_string(int64_t(v));
    case kBool: return v ? "true" : "false";
    case kF32: {
      uint32_t u = uint32_t(v);
      float f;
      std::memcpy(&f, &u, 4);
      return fmt::format("{}", f);
    }
    case kF64: {
      double d;
      std::memcpy(&d, &v, 8);
      return fmt::format("{}", d);
    }
    default: return std::to_string(v);
  }
}

constexpr uint64_t kPreviewBytes = 120;
constexpr size_t kPreviewElements = 8;

class Parser {
 public:
  Parser(Reader& r, GgufMetadata& m) : r_(r), m_(m) {}

  // One value of type `t`; `preview` gets a bounded text, `full` the whole string (for the
  // keys the report needs) when `want_full`.
  bool value(uint32_t t, int depth, std::string& preview, uint64_t& count, std::string* full) {
    count = 1;
    if (uint64_t w = fixed_size(t)) {
      uint64_t v = 0;
      if (!r_.uint(unsigned(w), v)) return false;
      preview = scalar_text(t, v);
      if (t == kBool && v > 1) m_.notes.push_back(fmt::format("bool value {} (not 0 or 1)", v));
      return true;
    }
    if (t == kString) {
      std::string s;
      uint64_t size = 0;
      if (!r_.string(s, size, full ? kGgufMaxStringBytes : kPreviewBytes)) return false;
      preview = printable(std::string_view(s).substr(0, kPreviewBytes), kPreviewBytes);
      if (size > kPreviewBytes) preview += fmt::format(" ({} bytes)", size);
      if (full) *full = std::move(s);
      return true;
    }
    if (t == kArray) return array(depth, preview, count);
    return r_.fail(fmt::format("unknown value type {}", t));
  }

  bool array(int depth, std::string& preview, uint64_t& count) {
    if (depth >= kGgufMaxArrayDepth) return r_.fail(fmt::format("arrays nested deeper than {}", kGgufMaxArrayDepth));
    uint64_t et = 0, n = 0;
    if (!r_.uint(4, et) || !r_.length(n)) return false;
    if (et > kF64) return r_.fail(fmt::format("array of unknown element type {}", et));
    if (n > kGgufMaxArrayElements) return r_.fail(fmt::format("array of {} elements declared (cap {})", n, kGgufMaxArrayElements));
    // Each element takes at least its fixed size, a string its length field, an array its header.
    uint64_t min_elem = fixed_size(uint32_t(et));
    if (et == kString) min_elem = r_.length_size();
    if (et == kArray) min_elem = 4 + r_.length_size();
    if (n > r_.left() / min_elem) return r_.fail(fmt::format("array of {} {} declared, only {} bytes left", n, type_name(uint32_t(et)), r_.left()));
    count = n;
    elements_ += n;
    if (elements_ > kGgufMaxArrayElements * 4) return r_.fail("more array elements in the file than the cap allows");
    preview = fmt::format("{}[{}]", type_name(uint32_t(et)), n);
    if (uint64_t w = fixed_size(uint32_t(et))) {
      std::string items;
      for (uint64_t i = 0; i < n && i < kPreviewElements; ++i) {
        uint64_t v = 0;
        if (!r_.uint(unsigned(w), v)) return false;
        items += (i ? ", " : "") + scalar_text(uint32_t(et), v);
      }
      uint64_t rest = n > kPreviewElements ? n - kPreviewElements : 0;
      if (!r_.skip(rest * w)) return false;
      preview += " [" + items + (rest ? ", …]" : "]");
      return true;
    }
    std::string items;
    for (uint64_t i = 0; i < n; ++i) {
      std::string p;
      uint64_t c = 0;
      if (!value(uint32_t(et), depth + 1, p, c, nullptr)) return false;
      if (i < kPreviewElements) items += (i ? ", " : "") + (et == kString ? "\"" + p + "\"" : p);
    }
    preview += " [" + items + (n > kPreviewElements ? ", …]" : "]");
    return true;
  }

 private:
  Reader& r_;
  GgufMetadata& m_;
  uint64_t elements_ = 0;
};

bool is_ident(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; }

// `word` as an identifier in `s` (not part of a longer name: "os" but not "most" or "pos").
bool has_word(std::string_view s, std::string_view word) {
  for (size_t at = s.find(word); at != std::string_view::npos; at = s.find(word, at + 1)) {
    bool left = at == 0 || !is_ident(s[at - 1]);
    bool right = at + word.size() >= s.size() || !is_ident(s[at + word.size()]);
    if (left && right) return true;
  }
  return false;
}

void read_tensor_infos(Reader& r, GgufMetadata& m) {
  uint64_t n = std::min(m.tensor_count, kGgufMaxTensors);
  for (uint64_t i = 0; i < n; ++i) {
    std::string name;
    uint64_t size = 0, dims = 0, type = 0, offset = 0;
    if (!r.string(name, size, 0) || !r.uint(4, dims)) break;
    if (dims > 8) {
      r.fail(fmt::format("tensor {} has {} dimensions", i, dims));
      break;
    }
    if (!r.skip(dims * 8) || !r.uint(4, type) || !r.uint(8, offset)) break;
    m.tensors_parsed = i + 1;
  }
}

}  // namespace

std::vector<std::string> chat_template_flags(std::string_view tpl) {
  std::vector<std::string> flags;
  // Dunder attributes: how a template climbs from a harmless object to Python's internals.
  for (const char* dunder : {"__class__", "__globals__", "__subclasses__", "__builtins__", "__import__", "__init__",
                             "__mro__", "__base__", "__bases__", "__dict__", "__getattribute__", "__code__", "__reduce__"})
    if (tpl.find(dunder) != std::string_view::npos) flags.push_back(dunder);
  // Names a payload reaches once it is there.
  for (const char* word : {"os", "popen", "system", "subprocess", "import", "eval", "exec", "open", "getattr",
                           "builtins", "sys", "socket", "lipsum", "cycler", "joiner", "namespace", "attr"})
    if (has_word(tpl, word)) flags.push_back(word);
  if (tpl.find("|attr") != std::string_view::npos || tpl.find("| attr") != std::string_view::npos) flags.push_back("|attr filter");
  if (tpl.find("\\x5f") != std::string_view::npos || tpl.find("\\u005f") != std::string_view::npos)
    flags.push_back("escaped underscore (\\x5f)");
  return flags;
}

GgufMetadata parse_gguf(std::string_view b) {
  GgufMetadata m;
  if (!starts_with(b, "GGUF")) return m;
  m.is_gguf = true;
  if (b.size() < 8) {
    m.error = "truncated: no version after the magic";
    return m;
  }
  uint32_t le_version = uint32_t(read_le(b.substr(4, 4)));
  uint32_t be_version = (le_version >> 24) | ((le_version >> 8) & 0xff00) | ((le_version << 8) & 0xff0000) | (le_version << 24);
  m.big_endian = le_version > 0xffff && be_version >= 1 && be_version <= 3;
  m.version = m.big_endian ? be_version : le_version;
  if (m.version < 1 || m.version > 3) {
    m.error = fmt::format("unsupported GGUF version {}", m.version);
    return m;
  }
  if (m.big_endian) m.notes.push_back("big-endian GGUF");
  Reader r(b, m.big_endian, m.version == 1);
  r.skip(8);
  if (!r.length(m.tensor_count) || !r.length(m.kv_count)) {
    m.error = r.error();
    return m;
  }
  if (m.kv_count > kGgufMaxKvs) {
    m.error = fmt::format("{} key/values declared (cap {})", m.kv_count, kGgufMaxKvs);
    return m;
  }
  if (m.tensor_count > kGgufMaxTensors) m.notes.push_back(fmt::format("{} tensors declared (cap {}): infos not read", m.tensor_count, kGgufMaxTensors));
  Parser p(r, m);
  std::vector<std::string> seen;
  uint64_t parsed = 0;
  for (uint64_t i = 0; i < m.kv_count; ++i, ++parsed) {
    GgufKv kv;
    uint64_t key_size = 0, type = 0;
    if (!r.string(kv.key, key_size, 256) || !r.uint(4, type)) break;
    if (key_size > 256) kv.key += fmt::format("… ({} bytes)", key_size);
    bool is_template = kv.key == "tokenizer.chat_template" || starts_with(kv.key, "tokenizer.chat_template.");
    bool want_full = is_template || kv.key == "general.architecture" || kv.key == "general.name";
    std::string full;
    if (!p.value(uint32_t(type), 0, kv.preview, kv.count, want_full && type == kString ? &full : nullptr)) break;
    kv.type = type == kArray ? kv.preview.substr(0, kv.preview.find('[')) : type_name(uint32_t(type));
    if (type == kArray) kv.type = "array[" + kv.type + "]";
    if (std::find(seen.begin(), seen.end(), kv.key) != seen.end()) m.notes.push_back("duplicate key " + kv.key);
    else if (seen.size() < kGgufMaxReportedKvs * 4) seen.push_back(kv.key);
    if (is_template && type != kString) m.notes.push_back(kv.key + " is a " + kv.type + ", not a string");
    if (is_template && type == kString) {
      GgufMetadata::Template t;
      t.key = kv.key;
      t.size = full.size();
      t.flags = chat_template_flags(full);
      t.text = full.substr(0, kGgufMaxTemplateBytes);
      m.templates.push_back(std::move(t));
    }
    if (kv.key == "general.architecture" && type == kString) m.architecture = full.substr(0, 256);
    if (kv.key == "general.name" && type == kString) m.name = full.substr(0, 256);
    if (m.kvs.size() < kGgufMaxReportedKvs) m.kvs.push_back(std::move(kv));
  }
  if (r.failed()) {
    m.error = fmt::format("key/value {} of {}: {}", parsed + 1, m.kv_count, r.error());
    return m;
  }
  if (m.kv_count > kGgufMaxReportedKvs) m.notes.push_back(fmt::format("{} key/values; the first {} reported", m.kv_count, kGgufMaxReportedKvs));
  if (m.tensor_count <= kGgufMaxTensors) {
    read_tensor_infos(r, m);
    if (r.failed()) m.notes.push_back(fmt::format("tensor infos: {} of {} read: {}", m.tensors_parsed, m.tensor_count, r.error()));
  }
  m.ok = true;
  return m;
}

nlohmann::json GgufMetadata::to_json() const {
  nlohmann::json j = {{"version", version}, {"tensor_count", tensor_count}, {"kv_count", kv_count},
                      {"tensors_parsed", tensors_parsed}, {"ok", ok}, {"architecture", architecture}, {"name", name},
                      {"notes", notes}};
  if (!error.empty()) j["error"] = error;
  if (big_endian) j["big_endian"] = true;
  j["templates"] = nlohmann::json::array();
  for (const auto& t : templates)
    j["templates"].push_back({{"key", t.key}, {"size", t.size}, {"flags", t.flags}, {"text", t.text},
                              {"truncated", t.size > t.text.size()}});
  j["metadata"] = nlohmann::json::array();
  for (const auto& kv : kvs) j["metadata"].push_back({{"key", kv.key}, {"type", kv.type}, {"value", kv.preview}});
  return j;
}

}  // namespace modelvet::prescan
