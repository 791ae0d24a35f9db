// The files a format reaches beside the model, by name: the jail must show them (read-only) or
// the victim's load fails where the victim's does not.
#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "prescan/internal.h"

namespace modelvet::prescan {
namespace {

namespace fs = std::filesystem;
constexpr size_t kMaxSiblings = 1000;
constexpr uint64_t kMaxSiblingBytes = 2ull << 30;

bool names_joblib(const Report& r) {
  for (const auto& ps : r.pickles)
    for (const auto& g : ps.globals)
      if (starts_with(g.module, "joblib.")) return true;
  return r.sniff.format == "joblib";
}

// `<base>_<digits>.npy` or `<base>_<digits>.npy.z`: what joblib < 0.10 wrote next to `<base>`.
bool is_legacy_joblib_array(const std::string& name, const std::string& base) {
  if (name.size() <= base.size() + 1 || name.compare(0, base.size(), base) != 0 || name[base.size()] != '_') return false;
  std::string_view rest = std::string_view(name).substr(base.size() + 1);
  size_t digits = 0;
  while (digits < rest.size() && rest[digits] >= '0' && rest[digits] <= '9') ++digits;
  rest.remove_prefix(digits);
  return digits > 0 && (rest == ".npy" || rest == ".npy.z");
}

// An ONNX model's external data: onnx.load opens each `location` relative to the model's
// directory. Files in that directory itself are shown; a location in a subdirectory is noted
// (the jail shows the model's directory flat), one that leaves the directory is never shown (the
// load then reads whatever the jail has there: that read is the finding).
Siblings onnx_siblings(const std::string& path, const OnnxInfo& onnx) {
  Siblings out;
  fs::path dir = fs::path(path).parent_path();
  if (dir.empty()) dir = ".";
  std::error_code ec;
  uint64_t bytes = 0;
  for (const auto& e : onnx.external) {
    if (e.escapes || e.location.empty()) continue;
    fs::path rel = fs::path(e.location).lexically_normal();
    if (rel.has_parent_path()) {
      out.notes.push_back("external data " + e.location + " is in a subdirectory: not shown to the jail");
      continue;
    }
    fs::path p = dir / rel;
    std::string s = p.string();
    if (rel == fs::path(path).filename() || std::find(out.paths.begin(), out.paths.end(), s) != out.paths.end()) continue;
    if (fs::is_symlink(p, ec) || !fs::is_regular_file(p, ec)) continue;
    uint64_t size = fs::file_size(p, ec);
    if (ec || out.paths.size() >= kMaxSiblings || bytes + size > kMaxSiblingBytes) {
      out.notes.push_back(fmt::format("external data {} not shown to the jail: over {} files or {} bytes", e.location, kMaxSiblings, kMaxSiblingBytes));
      continue;
    }
    bytes += size;
    out.paths.push_back(s);
  }
  std::sort(out.paths.begin(), out.paths.end());
  return out;
}

}  // namespace

Siblings model_siblings(const std::string& path, const Report& report) {
  Siblings out;
  std::error_code ec;
  if (report.onnx.is_onnx && !fs::is_directory(path, ec)) return onnx_siblings(path, report.onnx);
  if (!names_joblib(report) || fs::is_directory(path, ec)) return out;
  fs::path dir = fs::path(path).parent_path();
  if (dir.empty()) dir = ".";
  std::string base = fs::path(path).filename().string();
  uint64_t bytes = 0;
  for (const auto& entry : fs::directory_iterator(dir, fs::directory_options::skip_permission_denied, ec)) {
    std::string name = entry.path().filename().string();
    if (!is_legacy_joblib_array(name, base) || entry.is_symlink(ec) || !entry.is_regular_file(ec)) continue;
    uint64_t size = entry.file_size(ec);
    if (out.paths.size() >= kMaxSiblings || bytes + size > kMaxSiblingBytes) {
      out.notes.push_back(fmt::format("sibling {} not shown to the jail: over {} files or {} bytes", name, kMaxSiblings, kMaxSiblingBytes));
      continue;
    }
    bytes += size;
    out.paths.push_back(entry.path().string());
  }
  std::sort(out.paths.begin(), out.paths.end());
  return out;
}

}  // namespace modelvet::prescan
