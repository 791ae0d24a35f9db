#pragma once
// ONNX ModelProto, read as raw protobuf (no schema compiler, no allocation proportional to
// declared sizes): recognised conservatively by its top-level fields, then walked for what a
// load reaches beyond the file: tensors whose data is external (`location` relative to the
// model's directory: onnx.load opens it, and onnx 1.12 does not check that it stays inside), and
// operator domains (custom-op domains a runtime resolves by loading a native library).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace modelvet::prescan {

struct OnnxExternalData {
  std::string tensor;
  std::string location;
  bool escapes = false;  // absolute, or `..` climbs out of the model's directory
  // onnx 1.12 (Debian's) strips leading '/' and '.' (`_sanitize_path`) before joining: does what
  // is left still climb out (`weights/../../x`, CVE-2024-27318)? Older onnx (< 1.13) strips nothing.
  bool escapes_after_sanitize = false;
  uint64_t offset = 0, length = 0;
};

struct OnnxInfo {
  bool is_onnx = false;
  bool truncated = false;  // the bytes end inside the graph (only the head of a large file was given)
  uint64_t ir_version = 0;
  std::string producer;
  std::vector<std::pair<std::string, uint64_t>> opsets;  // opset_import: (domain, version)
  std::vector<std::string> node_domains;                  // distinct non-default node domains
  std::vector<std::string> native_library_domains;        // domains that name a native library
  uint64_t nodes = 0, initializers = 0;
  std::vector<OnnxExternalData> external;                 // at most kOnnxMaxExternal
  std::vector<std::string> notes;
  nlohmann::json to_json() const;
};

constexpr size_t kOnnxMaxExternal = 4096;
constexpr int kOnnxMaxDepth = 16;

// Is `b` an ONNX model, and what does it reach? `is_onnx` false means: not recognised.
OnnxInfo parse_onnx(std::string_view b);
// A domain or library name that is a path to a native library (".so", ".dll", ".dylib", a slash).
bool names_native_library(std::string_view domain);
// An external-data location that leaves the directory it is relative to.
bool location_escapes(std::string_view location);

}  // namespace modelvet::prescan
