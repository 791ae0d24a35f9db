// scanner_flags(): applies the picklescan / modelscan / fickling lists in scanner_lists.json (compiled in)
// with each scanner's own matching rules, so the analyst sees what each scanner would say.
#include <fmt/format.h>

#include "prescan/internal.h"

namespace modelvet::prescan {

extern const char* const kScannerListsJson;

namespace {

const nlohmann::json& lists() {
  static const nlohmann::json j = nlohmann::json::parse(kScannerListsJson);
  return j;
}

// Does a table entry (`"*"`, a list of names, or {"within": "..."}) cover `name`?
bool name_matches(const nlohmann::json& filter, const std::string& name, const std::string& mode) {
  if (filter.is_string()) return filter.get<std::string>() == "*";
  if (filter.is_object() && filter.contains("within"))  // picklescan's `name in "partial"` on a str
    return filter["within"].get<std::string>().find(name) != std::string::npos;
  if (filter.is_object() && filter.contains("except")) {  // fickling: every builtin but the safe ones
    for (const auto& safe : filter["except"])
      if (safe.get_ref<const std::string&>() == name) return false;
    return true;
  }
  if (!filter.is_array()) return false;
  for (const auto& f : filter) {
    const std::string& v = f.get_ref<const std::string&>();
    if (mode == "contains" ? name.find(v) != std::string::npos : name == v) return true;
  }
  return false;
}

// The table entry for `module`; picklescan also lets a "*" parent module cover its submodules.
const nlohmann::json* module_filter(const nlohmann::json& table, const std::string& module, const std::string& mode) {
  if (auto it = table.find(module); it != table.end()) return &*it;
  if (mode == "top-level") {  // fickling judges a module by its top-level package
    auto it = table.find(module.substr(0, module.find('.')));
    return it != table.end() ? &*it : nullptr;
  }
  if (mode != "exact-or-parent-wildcard") return nullptr;
  for (size_t dot = module.find('.'); dot != std::string::npos; dot = module.find('.', dot + 1)) {
    auto it = table.find(module.substr(0, dot));
    if (it != table.end() && it->is_string() && it->get<std::string>() == "*") return &*it;
  }
  return nullptr;
}

std::optional<std::string> severity_for(const nlohmann::json& scanner, const GlobalRef& g) {
  const std::string module_mode = scanner.value("module_match", "exact");
  const std::string name_mode = scanner.value("name_match", "exact");
  bool unknown = g.module.find("unknown") != std::string::npos || g.name.find("unknown") != std::string::npos;
  if (unknown && scanner["unknown_substring_severity"].is_string())
    return scanner["unknown_substring_severity"].get<std::string>();
  for (const auto& table : scanner["tables"]) {
    if (const auto* f = module_filter(table["globals"], g.module, module_mode); f && name_matches(*f, g.name, name_mode))
      return table["severity"].get<std::string>();
  }
  if (scanner.contains("safe")) {
    if (const auto* f = module_filter(scanner["safe"], g.module, "exact"); f && name_matches(*f, g.name, "exact"))
      return std::nullopt;
  }
  if (scanner["unlisted_severity"].is_string()) return scanner["unlisted_severity"].get<std::string>();
  return std::nullopt;
}

}  // namespace

std::vector<Flag> scanner_flags(const GlobalRef& g) {
  std::vector<Flag> flags;
  for (const auto& scanner : lists()["scanners"]) {
    if (auto severity = severity_for(scanner, g))
      flags.push_back(Flag{g.qualified(), *severity, scanner["name"].get<std::string>()});
  }
  return flags;
}

// modelscan's H5/Keras scanners flag unsafe layer types (Lambda) at the level its settings give.
std::vector<Flag> keras_layer_flags(const std::string& layer_class) {
  std::vector<Flag> flags;
  for (const auto& scanner : lists()["scanners"]) {
    auto layers = scanner.find("keras_unsafe_layers");
    if (layers == scanner.end() || !layers->contains(layer_class)) continue;
    std::string level = (*layers)[layer_class].get<std::string>();
    std::string severity = level == "CRITICAL" || level == "HIGH" ? "dangerous" : "suspicious";
    flags.push_back(Flag{"keras.layers." + layer_class, severity, scanner["name"].get<std::string>()});
  }
  return flags;
}

}  // namespace modelvet::prescan
