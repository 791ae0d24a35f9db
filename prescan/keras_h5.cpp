// Keras HDF5 models keep their architecture as a JSON string in the root group's
// `model_config` attribute. Finding that JSON in the raw bytes is enough to list the layers and
// the Lambda layers (marshalled Python bytecode run at load) without an HDF5 library.
#include <set>

#include <fmt/format.h>

#include "prescan/internal.h"

namespace modelvet::prescan {
namespace {

constexpr std::string_view kHdf5Signature{"\x89HDF\r\n\x1a\n", 8};
constexpr size_t kMaxConfigBytes = 64u << 20;
constexpr int kMaxDepth = 256;

// The balanced JSON object starting at `start` (strings and escapes respected), if it closes.
std::optional<std::string_view> json_object_at(std::string_view b, size_t start) {
  int depth = 0;
  bool in_string = false;
  size_t end = std::min(b.size(), start + kMaxConfigBytes);
  for (size_t p = start; p < end; ++p) {
    char c = b[p];
    if (in_string) {
      if (c == '\\') ++p;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '{') ++depth;
    else if (c == '}' && --depth == 0) return b.substr(start, p - start + 1);
    else if (c == '\0') return std::nullopt;
  }
  return std::nullopt;
}

std::string base64_decode(std::string_view in) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = val(c);
    if (v < 0) continue;
    acc = (acc << 6) | uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(char((acc >> bits) & 0xff));
    }
  }
  return out;
}

// Identifier-like strings inside marshalled bytecode: the names it uses (os, system, eval...).
std::vector<std::string> names_in_bytecode(std::string_view code) {
  std::vector<std::string> names;
  std::set<std::string> seen;
  std::string cur;
  auto flush = [&] {
    if (cur.size() >= 2 && !(cur[0] >= '0' && cur[0] <= '9') && seen.insert(cur).second && names.size() < 24)
      names.push_back(cur);
    cur.clear();
  };
  for (char c : code) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.') cur.push_back(c);
    else flush();
  }
  flush();
  return names;
}

class ConfigWalker {
 public:
  explicit ConfigWalker(KerasConfig& out) : out_(out) {}

  void walk(const nlohmann::json& j, int depth) {
    if (depth > kMaxDepth) return;
    if (j.is_array()) {
      for (const auto& v : j) walk(v, depth + 1);
      return;
    }
    if (!j.is_object()) return;
    std::string cls = string_at(j, "class_name");
    if (!cls.empty() && classes_.insert(cls).second) out_.layer_classes.push_back(cls);
    if (cls == "Lambda") describe_lambda(j);
    std::string module = string_at(j, "module");
    std::string function = string_at(j, "function");
    if (cls == "function") function = string_at(j, "config");  // Keras 3 {"module", "class_name": "function", "config": name}
    if (!module.empty()) add_reference(function.empty() ? module : module + "." + function);
    else if (!function.empty() && cls != "Lambda") add_reference(function);
    for (const auto& [key, v] : j.items()) walk(v, depth + 1);
  }

 private:
  static std::string string_at(const nlohmann::json& j, const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  }
  void add_reference(const std::string& r) {
    if (refs_.insert(r).second) out_.references.push_back(r);
  }
  // Keras 2: config.function = [base64 marshal, defaults, closure] or a named function with
  // config.module; Keras 3: config.function = {"class_name": "__lambda__", "config": {"code": …}}
  // or a module function {"module": m, "class_name": "function", "config": name}.
  void describe_lambda(const nlohmann::json& layer) {
    const nlohmann::json* config = layer.contains("config") ? &layer["config"] : nullptr;
    std::string name = config && config->is_object() ? string_at(*config, "name") : "";
    if (name.empty()) name = "lambda";
    std::string code, what;
    if (config && config->is_object() && config->contains("function")) {
      const auto& f = (*config)["function"];
      if (f.is_array() && !f.empty() && f[0].is_string()) code = f[0].get<std::string>();
      else if (f.is_object() && f.contains("module") && f.contains("config") && f["config"].is_string())
        what = "module function " + string_at(f, "module") + "." + f["config"].get<std::string>();
      else if (f.is_object() && f.contains("config") && f["config"].is_object())
        code = string_at(f["config"], "code");
      else if (f.is_string()) {
        std::string module = string_at(*config, "module");
        what = "function " + (module.empty() ? f.get<std::string>() : module + "." + f.get<std::string>());
        add_reference(module.empty() ? f.get<std::string>() : module + "." + f.get<std::string>());
      }
    }
    if (!code.empty()) {
      std::string bytecode = base64_decode(code);
      auto names = names_in_bytecode(bytecode);
      std::string joined;
      for (const auto& n : names) joined += (joined.empty() ? "" : ", ") + n;
      what = fmt::format("marshalled bytecode ({} bytes); names: {}", bytecode.size(), joined.empty() ? "none" : joined);
    }
    if (what.empty()) what = "function not found in config";
    out_.lambda_layers.push_back(name + ": " + what);
  }

  KerasConfig& out_;
  std::set<std::string> classes_, refs_;
};

}  // namespace

std::optional<uint64_t> find_hdf5_signature(std::string_view b) {
  for (uint64_t at = 0; at + kHdf5Signature.size() <= b.size(); at = at ? at * 2 : 512)
    if (b.substr(at, kHdf5Signature.size()) == kHdf5Signature) return at;
  return std::nullopt;
}

KerasConfig scan_keras_config(std::string_view b) {
  KerasConfig out;
  // Keras 2 writes {"class_name": ...}; Keras 3 writes {"module": ..., "class_name": ...}.
  auto next = [&](size_t from) {
    return std::min(b.find("{\"class_name\"", from), b.find("{\"module\"", from));
  };
  int tries = 0;
  for (size_t p = next(0); p != std::string_view::npos && tries < 16; p = next(p + 1), ++tries) {
    auto text = json_object_at(b, p);
    if (!text) continue;
    auto j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) continue;
    out.found = true;
    ConfigWalker(out).walk(j, 0);
    return out;
  }
  return out;
}

}  // namespace modelvet::prescan
