// ONNX as raw protobuf (onnx/onnx.proto): ModelProto 1 ir_version, 2 producer_name, 7 graph,
// 8 opset_import (OpsetIdProto 1 domain, 2 version), 25 functions; GraphProto 1 node, 5 initializer,
// 15 sparse_initializer; NodeProto 5 attribute, 7 domain; AttributeProto 5 t, 6 g, 10 tensors,
// 11 graphs, 22 sparse_tensor, 23 sparse_tensors; TensorProto 8 name, 13 external_data
// (key 1, value 2), 14 data_location (1 = EXTERNAL); FunctionProto 7 node, 9 opset_import.
#include "prescan/onnx.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "prescan/internal.h"

namespace modelvet::prescan {
namespace {

enum Wire { kVarint = 0, kFixed64 = 1, kLen = 2, kFixed32 = 5 };

struct Field {
  uint32_t number = 0;
  int wire = 0;
  uint64_t varint = 0;
  std::string_view bytes;  // kLen payload
};

// One protobuf message's fields, in order; never reads past `b`.
class Fields {
 public:
  explicit Fields(std::string_view b) : b_(b) {}
  bool next(Field& f) {
    if (pos_ >= b_.size() || bad_) return false;
    uint64_t tag = 0;
    if (!varint(tag) || (tag >> 3) == 0 || (tag >> 3) > 0x1fffffff) return fail();
    f.number = uint32_t(tag >> 3);
    f.wire = int(tag & 7);
    switch (f.wire) {
      case kVarint: return varint(f.varint) || fail();
      case kFixed64: return skip(8) || fail();
      case kFixed32: return skip(4) || fail();
      case kLen: {
        uint64_t n = 0;
        if (!varint(n)) return fail();
        if (n > b_.size() - pos_) {
          truncated_ = true;  // the declared length runs past the bytes we have
          f.bytes = b_.substr(pos_);
          pos_ = b_.size();
          return fail();
        }
        f.bytes = b_.substr(pos_, n);
        pos_ += n;
        return true;
      }
      default: return fail();  // groups (3, 4) and reserved wire types: not ONNX
    }
  }
  bool bad() const { return bad_; }
  bool truncated() const { return truncated_; }

 private:
  bool varint(uint64_t& out) {
    out = 0;
    for (int shift = 0; shift < 64 && pos_ < b_.size(); shift += 7) {
      uint8_t c = uint8_t(b_[pos_++]);
      out |= uint64_t(c & 0x7f) << shift;
      if (!(c & 0x80)) return true;
    }
    return false;
  }
  bool skip(uint64_t n) {
    if (n > b_.size() - pos_) return false;
    pos_ += n;
    return true;
  }
  bool fail() {
    bad_ = true;
    return false;
  }
  std::string_view b_;
  size_t pos_ = 0;
  bool bad_ = false, truncated_ = false;
};

std::string text(std::string_view s, size_t max = 512) { return std::string(s.substr(0, max)); }

class Walker {
 public:
  explicit Walker(OnnxInfo& info) : info_(info) {}

  void graph(std::string_view b, int depth) {
    if (depth > kOnnxMaxDepth) return note("graphs nested deeper than 16; not walked");
    Fields fs(b);
    Field f;
    while (fs.next(f) && budget()) {
      if (f.wire != kLen) continue;
      if (f.number == 1) node(f.bytes, depth);
      else if (f.number == 5) ++info_.initializers, tensor(f.bytes);
      else if (f.number == 15) sparse(f.bytes);
    }
    if (fs.truncated()) info_.truncated = true;
    else if (fs.bad()) note("graph: malformed protobuf");
  }

  void function(std::string_view b, int depth) {
    Fields fs(b);
    Field f;
    while (fs.next(f) && budget()) {
      if (f.wire != kLen) continue;
      if (f.number == 7) node(f.bytes, depth + 1);
      else if (f.number == 9) opset(f.bytes);
    }
  }

  void opset(std::string_view b) {
    Fields fs(b);
    Field f;
    std::string domain;
    uint64_t version = 0;
    while (fs.next(f)) {
      if (f.number == 1 && f.wire == kLen) domain = text(f.bytes);
      else if (f.number == 2 && f.wire == kVarint) version = f.varint;
    }
    if (info_.opsets.size() < 256) info_.opsets.emplace_back(domain, version);
    add_domain(domain, false);
  }

 private:
  void node(std::string_view b, int depth) {
    ++info_.nodes;
    Fields fs(b);
    Field f;
    while (fs.next(f) && budget()) {
      if (f.wire != kLen) continue;
      if (f.number == 7) add_domain(text(f.bytes), true);
      else if (f.number == 5) attribute(f.bytes, depth);
    }
  }

  void attribute(std::string_view b, int depth) {
    Fields fs(b);
    Field f;
    while (fs.next(f) && budget()) {
      if (f.wire != kLen) continue;
      if (f.number == 5 || f.number == 10) tensor(f.bytes);
      else if (f.number == 6 || f.number == 11) graph(f.bytes, depth + 1);
      else if (f.number == 22 || f.number == 23) sparse(f.bytes);
    }
  }

  void sparse(std::string_view b) {
    Fields fs(b);
    Field f;
    while (fs.next(f) && budget())
      if (f.wire == kLen && (f.number == 1 || f.number == 2)) tensor(f.bytes);
  }

  void tensor(std::string_view b) {
    Fields fs(b);
    Field f;
    OnnxExternalData e;
    bool external = false, has_location = false;
    while (fs.next(f) && budget()) {
      if (f.number == 8 && f.wire == kLen) e.tensor = text(f.bytes, 256);
      else if (f.number == 14 && f.wire == kVarint) external = f.varint == 1;
      else if (f.number == 13 && f.wire == kLen) {
        Fields kv(f.bytes);
        Field g;
        std::string key, value;
        while (kv.next(g))
          if (g.wire == kLen) (g.number == 1 ? key : value) = text(g.bytes, 4096);
        uint64_t n = 0;
        if (key == "location") e.location = value, has_location = true;
        else if (key == "offset" && parse_decimal(value, n)) e.offset = n;
        else if (key == "length" && parse_decimal(value, n)) e.length = n;
      }
    }
    if (!external && !has_location) return;
    if (!external) note(fmt::format("tensor '{}' has external_data but data_location is not EXTERNAL", e.tensor));
    if (external && !has_location) note(fmt::format("tensor '{}' is EXTERNAL without a location", e.tensor));
    e.escapes = location_escapes(e.location);
    size_t keep = e.location.find_first_not_of("/.");
    e.escapes_after_sanitize = keep != std::string::npos && location_escapes(std::string_view(e.location).substr(keep));
    if (info_.external.size() < kOnnxMaxExternal) info_.external.push_back(std::move(e));
    else if (info_.external.size() == kOnnxMaxExternal) note("more external tensors than listed");
  }

  void add_domain(const std::string& domain, bool from_node) {
    bool builtin = domain.empty() || domain == "ai.onnx" || domain == "ai.onnx.ml" || domain == "ai.onnx.training" ||
                   domain == "ai.onnx.preview.training";
    if (from_node && !builtin && std::find(info_.node_domains.begin(), info_.node_domains.end(), domain) == info_.node_domains.end() &&
        info_.node_domains.size() < 64)
      info_.node_domains.push_back(domain);
    if (names_native_library(domain) &&
        std::find(info_.native_library_domains.begin(), info_.native_library_domains.end(), domain) == info_.native_library_domains.end() &&
        info_.native_library_domains.size() < 64)
      info_.native_library_domains.push_back(domain);
  }

  void note(const std::string& n) {
    if (info_.notes.size() < 32) info_.notes.push_back(n);
  }

  bool budget() {
    if (++fields_ <= kMaxFields) return true;
    if (fields_ == kMaxFields + 1) note("field budget exhausted; the rest of the graph was not walked");
    return false;
  }

  static constexpr uint64_t kMaxFields = 4u << 20;
  OnnxInfo& info_;
  uint64_t fields_ = 0;
};

}  // namespace

bool names_native_library(std::string_view d) {
  std::string l = lower(d);
  return l.find('/') != std::string::npos || l.find('\\') != std::string::npos || ends_with(l, ".so") ||
         l.find(".so.") != std::string::npos || ends_with(l, ".dll") || ends_with(l, ".dylib");
}

bool location_escapes(std::string_view loc) {
  if (loc.empty()) return false;
  if (loc[0] == '/' || loc[0] == '\\' || (loc.size() > 1 && loc[1] == ':')) return true;
  int depth = 0;
  size_t start = 0;
  while (start <= loc.size()) {
    size_t end = loc.find_first_of("/\\", start);
    if (end == std::string_view::npos) end = loc.size();
    std::string_view part = loc.substr(start, end - start);
    if (part == "..") {
      if (--depth < 0) return true;
    } else if (!part.empty() && part != ".") {
      ++depth;
    }
    start = end + 1;
  }
  return false;
}

OnnxInfo parse_onnx(std::string_view b) {
  OnnxInfo info;
  // Conservative: field 1 (ir_version, a varint) first, then only ModelProto's fields with their
  // wire types, a graph (7) and an opset_import (8); the bytes parse to the end, or end inside
  // the graph (the head of a large file).
  if (b.size() < 4 || uint8_t(b[0]) != 0x08) return info;
  static const std::set<std::pair<uint32_t, int>> kModelFields = {
      {1, kVarint}, {2, kLen}, {3, kLen}, {4, kLen}, {5, kVarint}, {6, kLen}, {7, kLen},
      {8, kLen}, {14, kLen}, {20, kLen}, {25, kLen}};
  Fields fs(b);
  Field f;
  bool first = true, graph = false, opset = false;
  std::vector<std::string_view> graphs, opsets, functions;
  while (fs.next(f)) {
    if (!kModelFields.count({f.number, f.wire})) return info;
    if (first && (f.number != 1 || f.varint == 0 || f.varint > 64)) return info;
    if (f.number == 1) info.ir_version = f.varint;
    else if (f.number == 2) info.producer = text(f.bytes, 128);
    else if (f.number == 7) graph = true, graphs.push_back(f.bytes);
    else if (f.number == 8) opset = true, opsets.push_back(f.bytes);
    else if (f.number == 25) functions.push_back(f.bytes);
    first = false;
  }
  if (fs.bad()) {
    // Only a graph (the large field) may run past the bytes given.
    if (!fs.truncated() || f.number != 7 || f.wire != kLen) return info;
    info.truncated = true;
    graph = true;
    graphs.push_back(f.bytes);
  }
  if (!graph || (!opset && !info.truncated) || info.ir_version == 0) return info;
  info.is_onnx = true;
  Walker w(info);
  for (auto o : opsets) w.opset(o);
  for (auto g : graphs) w.graph(g, 0);
  for (auto fn : functions) w.function(fn, 0);
  if (info.truncated) info.notes.push_back("only the head of the file was walked: the graph runs past it");
  return info;
}

nlohmann::json OnnxInfo::to_json() const {
  nlohmann::json j = {{"ir_version", ir_version}, {"producer", producer}, {"nodes", nodes}, {"initializers", initializers},
                      {"node_domains", node_domains}, {"native_library_domains", native_library_domains}, {"notes", notes}};
  j["opset_import"] = nlohmann::json::array();
  for (const auto& [d, v] : opsets) j["opset_import"].push_back({{"domain", d}, {"version", v}});
  j["external_data"] = nlohmann::json::array();
  for (const auto& e : external)
    j["external_data"].push_back({{"tensor", e.tensor}, {"location", e.location}, {"escapes", e.escapes}, {"escapes_after_sanitize", e.escapes_after_sanitize},
                                  {"offset", e.offset}, {"length", e.length}});
  if (truncated) j["truncated"] = true;
  return j;
}

}  // namespace modelvet::prescan
