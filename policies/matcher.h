#pragma once
// Compiled matchers: what a rule's "match" becomes once parsed (compiler.h builds them), and
// how they test one event. An event is tested through its "view": its data fields plus
// "source", "kind", "phase", "pid", "t_ns" and the derived fields the timeline adds.
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "policies/cidr.h"
#include "policies/glob.h"

namespace modelvet::policy {

// The run-specific values matchers consult; one per evaluation, never shared between threads.
struct MatchEnv {
  GlobVars vars;
  std::set<std::string> decoy_files;      // absolute jail paths
  std::vector<std::string> decoy_env;     // environment variable names holding decoy secrets
  std::vector<std::string> decoy_values;  // the secrets themselves
  std::unordered_map<std::string, std::regex> glob_cache;  // expanded glob → regex
};

// Tests one field value. An absent (or empty-array) field matches only {"exists": false};
// an array matches when any one element does, or with "every", when all of them do.
struct ValueMatcher {
  enum class Op { Glob, Regex, Cidr, In, Eq, Range, Decoy, Exists, Not, AnyOf, AllOf, Every };
  Op op = Op::Eq;
  std::string text;                          // glob pattern, regex source, decoy kind
  std::shared_ptr<const std::regex> regex;   // regex, or a glob with no run variables
  std::optional<Cidr> cidr;
  nlohmann::json value;                      // eq / in / exists operand
  double lo = 0, hi = 0;                     // range
  std::vector<ValueMatcher> children;        // not / every (one), any_of / all_of
};

// Tests one event view; every constraint present must hold.
struct EventMatcher {
  std::vector<std::string> sources, kinds, phases;  // empty: any
  std::vector<std::pair<std::string, ValueMatcher>> fields;
  std::vector<EventMatcher> any_of, all_of, none_of;
};

bool value_matches(const ValueMatcher& m, const nlohmann::json* value, MatchEnv& env);
bool event_matches(const EventMatcher& m, const nlohmann::json& view, MatchEnv& env);

// Regexes run on at most this many bytes of a value: std::regex recurses per character.
inline constexpr size_t kMaxRegexSubject = 4096;

}  // namespace modelvet::policy
