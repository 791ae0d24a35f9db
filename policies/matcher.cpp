#include "policies/matcher.h"

#include <algorithm>

namespace modelvet::policy {
namespace {

std::string as_text(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  return v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

bool regex_search_bounded(const std::regex& re, const std::string& s) {
  if (s.size() <= kMaxRegexSubject) return std::regex_search(s, re);
  return std::regex_search(s.substr(0, kMaxRegexSubject), re);
}

const std::regex& glob_regex(const ValueMatcher& m, MatchEnv& env) {
  if (m.regex) return *m.regex;
  std::string expanded = expand_glob_vars(m.text, env.vars);
  auto it = env.glob_cache.find(expanded);
  if (it == env.glob_cache.end()) {
    std::string error;
    // The compiler checked the glob with placeholder values; an expansion is plain text.
    auto source = glob_to_regex(expanded, &error);
    it = env.glob_cache.emplace(expanded, std::regex(source.value_or("$^"), std::regex::ECMAScript | std::regex::optimize)).first;
  }
  return it->second;
}

bool contains_any(const std::string& s, const std::vector<std::string>& needles) {
  return std::any_of(needles.begin(), needles.end(),
                     [&](const std::string& n) { return !n.empty() && s.find(n) != std::string::npos; });
}

bool decoy_matches(const std::string& kind, const std::string& s, const MatchEnv& env) {
  if (kind == "file") {
    if (env.decoy_files.count(s)) return true;
    return std::any_of(env.decoy_files.begin(), env.decoy_files.end(),
                       [&](const std::string& f) { return s.find(f) != std::string::npos; });
  }
  if (kind == "env") return contains_any(s, env.decoy_env);
  return contains_any(s, env.decoy_values);  // "secret"
}

bool scalar_matches(const ValueMatcher& m, const nlohmann::json& v, MatchEnv& env) {
  using Op = ValueMatcher::Op;
  switch (m.op) {
    case Op::Glob:
      return std::regex_match(as_text(v), glob_regex(m, env));
    case Op::Regex:
      return regex_search_bounded(*m.regex, as_text(v));
    case Op::Cidr:
      return v.is_string() && m.cidr->contains(v.get<std::string>());
    case Op::In:
      return std::find(m.value.begin(), m.value.end(), v) != m.value.end();
    case Op::Eq:
      return v == m.value;
    case Op::Range:
      return v.is_number() && v.get<double>() >= m.lo && v.get<double>() <= m.hi;
    case Op::Decoy:
      return decoy_matches(m.text, as_text(v), env);
    case Op::Exists:
      return m.value.get<bool>();
    case Op::Not:
      return !value_matches(m.children[0], &v, env);
    case Op::AnyOf:
      return std::any_of(m.children.begin(), m.children.end(), [&](const auto& c) { return value_matches(c, &v, env); });
    case Op::AllOf:
      return std::all_of(m.children.begin(), m.children.end(), [&](const auto& c) { return value_matches(c, &v, env); });
    case Op::Every:
      return value_matches(m.children[0], &v, env);
  }
  return false;
}

bool in_list(const std::vector<std::string>& list, const nlohmann::json& view, const char* key) {
  if (list.empty()) return true;
  auto it = view.find(key);
  if (it == view.end() || !it->is_string()) return false;
  return std::find(list.begin(), list.end(), it->get<std::string>()) != list.end();
}

}  // namespace

bool value_matches(const ValueMatcher& m, const nlohmann::json* value, MatchEnv& env) {
  bool absent = value == nullptr || value->is_null() || (value->is_array() && value->empty());
  if (absent) return m.op == ValueMatcher::Op::Exists && !m.value.get<bool>();
  if (m.op == ValueMatcher::Op::Every) {
    if (!value->is_array()) return value_matches(m.children[0], value, env);
    return std::all_of(value->begin(), value->end(), [&](const nlohmann::json& e) { return value_matches(m.children[0], &e, env); });
  }
  if (value->is_array())
    return std::any_of(value->begin(), value->end(), [&](const nlohmann::json& e) { return value_matches(m, &e, env); });
  return scalar_matches(m, *value, env);
}

bool event_matches(const EventMatcher& m, const nlohmann::json& view, MatchEnv& env) {
  if (!in_list(m.sources, view, "source") || !in_list(m.kinds, view, "kind") || !in_list(m.phases, view, "phase"))
    return false;
  for (const auto& [field, matcher] : m.fields) {
    auto it = view.find(field);
    if (!value_matches(matcher, it == view.end() ? nullptr : &*it, env)) return false;
  }
  if (!m.any_of.empty() &&
      std::none_of(m.any_of.begin(), m.any_of.end(), [&](const auto& c) { return event_matches(c, view, env); }))
    return false;
  for (const auto& c : m.all_of)
    if (!event_matches(c, view, env)) return false;
  for (const auto& c : m.none_of)
    if (event_matches(c, view, env)) return false;
  return true;
}

}  // namespace modelvet::policy
