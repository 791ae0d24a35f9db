#include "policies/compiler.h"

#include <fmt/core.h>
#include <fmt/ranges.h>

#include <regex>
#include <set>

#include "policies/event_fields.h"

namespace modelvet::policy {
namespace {

using nlohmann::json;

const std::set<std::string> kSeverities = {"malicious", "suspicious", "info"};
const std::set<std::string> kSources = {"kernel", "python", "net"};
const std::set<std::string> kPhases = {"setup", "load", "exercise", "grace", "shutdown"};
const std::regex kAttackId(R"(^T\d{4}(\.\d{3})?$)");
const std::regex kIdSyntax(R"(^[a-z0-9_]+(\.[a-z0-9_]+)*$)");

std::string child(const std::string& pointer, const std::string& token) {
  std::string escaped;
  for (char c : token) {
    if (c == '~') escaped += "~0";
    else if (c == '/') escaped += "~1";
    else escaped += c;
  }
  return pointer + "/" + escaped;
}
std::string child(const std::string& pointer, size_t index) { return pointer + "/" + std::to_string(index); }

class Compiler {
 public:
  Compiler(const json& doc, std::vector<LintIssue>* issues) : doc_(doc), issues_(issues) {}

  CompiledPolicy run() {
    CompiledPolicy out;
    if (!doc_.is_object()) {
      issue("", "a policy is a JSON object");
      return out;
    }
    known_keys(doc_, "", {"name", "version", "description", "decoys", "macros", "allow", "rules", "checks", "score"});
    required_string(doc_, "", "name");
    optional_string(doc_, "", "version");
    optional_string(doc_, "", "description");
    if (doc_.contains("macros")) {
      macros_ = doc_["macros"];
      if (!macros_.is_object()) issue("/macros", "must be an object of name → match");
    }
    if (auto it = doc_.find("decoys"); it != doc_.end()) decoys(*it, &out);
    if (auto it = doc_.find("allow"); it != doc_.end()) {
      if (!it->is_array()) issue("/allow", "must be an array");
      else
        for (size_t i = 0; i < it->size(); ++i) allow((*it)[i], child("/allow", i), &out);
    }
    if (!doc_.contains("rules")) issue("", "missing \"rules\"");
    else if (!doc_["rules"].is_array()) issue("/rules", "must be an array");
    else
      for (size_t i = 0; i < doc_["rules"].size(); ++i) rule(doc_["rules"][i], child("/rules", i), &out);
    if (auto it = doc_.find("checks"); it != doc_.end()) checks(*it, &out.checks);
    if (auto it = doc_.find("score"); it != doc_.end()) score(*it, &out);
    // Macros nobody uses are still checked, so a typo in one is caught before it is needed.
    if (macros_.is_object())
      for (auto& [name, body] : macros_.items()) {
        if (used_macros_.count(name)) continue;
        match(body, child("/macros", name));
      }
    return out;
  }

 private:
  void issue(const std::string& where, const std::string& message) { issues_->push_back({where, message}); }

  void known_keys(const json& obj, const std::string& where, std::initializer_list<const char*> allowed) {
    std::set<std::string> ok(allowed.begin(), allowed.end());
    for (auto& [key, _] : obj.items())
      if (!ok.count(key)) issue(child(where, key), fmt::format("unknown key \"{}\"", key));
  }

  std::string required_string(const json& obj, const std::string& where, const char* key) {
    auto it = obj.find(key);
    if (it == obj.end()) {
      issue(where, fmt::format("missing \"{}\"", key));
      return "";
    }
    if (!it->is_string() || it->get<std::string>().empty()) {
      issue(child(where, key), "must be a non-empty string");
      return "";
    }
    return it->get<std::string>();
  }

  std::string optional_string(const json& obj, const std::string& where, const char* key, std::string fallback = "") {
    auto it = obj.find(key);
    if (it == obj.end()) return fallback;
    if (!it->is_string()) {
      issue(child(where, key), "must be a string");
      return fallback;
    }
    return it->get<std::string>();
  }

  std::vector<std::string> strings(const json& v, const std::string& where, bool allow_single) {
    std::vector<std::string> out;
    if (allow_single && v.is_string()) return {v.get<std::string>()};
    if (!v.is_array()) {
      issue(where, allow_single ? "must be a string or an array of strings" : "must be an array of strings");
      return out;
    }
    for (size_t i = 0; i < v.size(); ++i) {
      if (v[i].is_string()) out.push_back(v[i].get<std::string>());
      else issue(child(where, i), "must be a string");
    }
    return out;
  }

  std::string severity(const json& obj, const std::string& where, const char* key, std::string fallback) {
    std::string s = optional_string(obj, where, key, fallback);
    if (!kSeverities.count(s)) {
      issue(child(where, key), fmt::format("severity \"{}\" is not one of malicious, suspicious, info", s));
      return fallback;
    }
    return s;
  }

  std::string attack(const json& obj, const std::string& where) {
    std::string a = optional_string(obj, where, "attack");
    if (!a.empty() && !std::regex_match(a, kAttackId))
      issue(child(where, "attack"), fmt::format("\"{}\" is not an ATT&CK technique id (T1234 or T1234.001)", a));
    return a;
  }

  void template_text(const std::string& text, const std::string& where) {
    for (size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '}') {
        issue(where, "unbalanced '}' in template");
        return;
      }
      if (text[i] != '{') continue;
      size_t close = text.find('}', i);
      if (close == std::string::npos) {
        issue(where, "unterminated '{' in template");
        return;
      }
      std::string name = text.substr(i + 1, close - i - 1);
      if (!std::regex_match(name, std::regex("^[a-z_][a-z0-9_]*$")))
        issue(where, fmt::format("placeholder \"{{{}}}\" is not a field name", name));
      i = close;
    }
  }

  // ---- value matchers ----

  ValueMatcher value(const json& v, const std::string& where) {
    using Op = ValueMatcher::Op;
    ValueMatcher m;
    if (!v.is_object()) {  // a bare scalar means equality
      if (v.is_array() || v.is_null()) issue(where, "a field matcher is an object (glob, regex, cidr, in, eq, range, decoy, exists, not, every, any_of, all_of) or a scalar");
      m.op = Op::Eq;
      m.value = v;
      return m;
    }
    if (v.size() != 1) {
      issue(where, "a field matcher has exactly one operator; combine them with all_of / any_of");
      if (v.empty()) return m;
    }
    const std::string op = v.begin().key();
    const json& arg = v.begin().value();
    std::string at = child(where, op);
    if (op == "glob") {
      m.op = Op::Glob;
      if (!arg.is_string()) return bad(at, "glob must be a string", m);
      m.text = arg.get<std::string>();
      std::string error;
      // Check with run variables replaced by plain stand-ins; compile now when it has none.
      auto re = glob_to_regex(expand_glob_vars(m.text, {"/home/x", "/tmp", "/m"}), &error);
      if (!re) return bad(at, fmt::format("bad glob \"{}\": {}", m.text, error), m);
      if (!glob_has_vars(m.text)) m.regex = compile_regex(*re, at);
    } else if (op == "regex") {
      m.op = Op::Regex;
      if (!arg.is_string()) return bad(at, "regex must be a string", m);
      m.text = arg.get<std::string>();
      m.regex = compile_regex(m.text, at);
    } else if (op == "cidr") {
      m.op = Op::Cidr;
      if (!arg.is_string() || !(m.cidr = Cidr::parse(arg.get<std::string>())))
        return bad(at, fmt::format("bad CIDR {}", arg.dump()), m);
    } else if (op == "in") {
      m.op = Op::In;
      if (!arg.is_array() || arg.empty()) return bad(at, "in takes a non-empty array of values", m);
      for (size_t i = 0; i < arg.size(); ++i)
        if (arg[i].is_structured() || arg[i].is_null()) issue(child(at, i), "in lists scalars only");
      m.value = arg;
    } else if (op == "eq") {
      m.op = Op::Eq;
      if (arg.is_structured()) issue(at, "eq compares with a scalar");
      m.value = arg;
    } else if (op == "range") {
      m.op = Op::Range;
      if (!arg.is_array() || arg.size() != 2 || !arg[0].is_number() || !arg[1].is_number() || arg[0].get<double>() > arg[1].get<double>())
        return bad(at, "range takes [low, high] numbers with low <= high", m);
      m.lo = arg[0].get<double>();
      m.hi = arg[1].get<double>();
    } else if (op == "decoy") {
      m.op = Op::Decoy;
      if (!arg.is_string() || !std::set<std::string>{"file", "env", "secret"}.count(arg.get<std::string>()))
        return bad(at, "decoy is \"file\", \"env\" or \"secret\"", m);
      m.text = arg.get<std::string>();
    } else if (op == "exists") {
      m.op = Op::Exists;
      if (!arg.is_boolean()) return bad(at, "exists takes true or false", m);
      m.value = arg;
    } else if (op == "not" || op == "every") {
      m.op = op == "not" ? Op::Not : Op::Every;
      m.children.push_back(value(arg, at));
    } else if (op == "any_of" || op == "all_of") {
      m.op = op == "any_of" ? Op::AnyOf : Op::AllOf;
      if (!arg.is_array() || arg.empty()) return bad(at, op + " takes a non-empty array of matchers", m);
      for (size_t i = 0; i < arg.size(); ++i) m.children.push_back(value(arg[i], child(at, i)));
    } else {
      return bad(at, fmt::format("unknown matcher \"{}\"", op), m);
    }
    return m;
  }

  ValueMatcher bad(const std::string& where, const std::string& message, ValueMatcher m) {
    issue(where, message);
    m.op = ValueMatcher::Op::Exists;  // inert placeholder: the policy will not be used anyway
    m.value = false;
    return m;
  }

  std::shared_ptr<const std::regex> compile_regex(const std::string& source, const std::string& where) {
    try {
      return std::make_shared<const std::regex>(source, std::regex::ECMAScript | std::regex::optimize);
    } catch (const std::regex_error& e) {
      issue(where, fmt::format("bad regex \"{}\": {}", source, e.what()));
      return std::make_shared<const std::regex>("$^");
    }
  }

  // ---- event matchers ----

  EventMatcher match(const json& v, const std::string& where, int depth = 0) {
    EventMatcher m;
    if (depth > 16) {
      issue(where, "matchers nest too deep (a macro that uses itself?)");
      return m;
    }
    if (!v.is_object()) {
      issue(where, "a match is an object");
      return m;
    }
    known_keys(v, where, {"macro", "source", "kind", "phase", "fields", "any_of", "all_of", "not"});
    if (auto it = v.find("macro"); it != v.end()) {
      if (!it->is_string()) issue(child(where, "macro"), "must be a macro name");
      else if (!macros_.is_object() || !macros_.contains(it->get<std::string>()))
        issue(child(where, "macro"), fmt::format("undefined macro \"{}\"", it->get<std::string>()));
      else {
        used_macros_.insert(it->get<std::string>());
        m.all_of.push_back(match(macros_[it->get<std::string>()], child("/macros", it->get<std::string>()), depth + 1));
      }
    }
    if (auto it = v.find("source"); it != v.end()) {
      m.sources = strings(*it, child(where, "source"), true);
      for (const auto& s : m.sources)
        if (!kSources.count(s)) issue(child(where, "source"), fmt::format("unknown source \"{}\" (kernel, python, net)", s));
    }
    if (auto it = v.find("kind"); it != v.end()) {
      m.kinds = strings(*it, child(where, "kind"), true);
      for (const auto& k : m.kinds)
        if (!is_known_kind(k)) issue(child(where, "kind"), fmt::format("unknown event kind \"{}\"", k));
    }
    if (auto it = v.find("phase"); it != v.end()) {
      m.phases = strings(*it, child(where, "phase"), true);
      for (const auto& p : m.phases)
        if (!kPhases.count(p)) issue(child(where, "phase"), fmt::format("unknown phase \"{}\" (setup, load, exercise, grace, shutdown)", p));
    }
    if (auto it = v.find("fields"); it != v.end()) {
      std::string at = child(where, "fields");
      if (!it->is_object()) issue(at, "fields is an object of field → matcher");
      else
        for (auto& [name, body] : it->items()) {
          if (!m.kinds.empty() && !field_known_for(name, m.sources, m.kinds))
            issue(child(at, name), fmt::format("no event of kind {} has a field \"{}\"", fmt::join(m.kinds, "/"), name));
          m.fields.emplace_back(name, value(body, child(at, name)));
        }
    }
    for (const char* key : {"any_of", "all_of"}) {
      auto it = v.find(key);
      if (it == v.end()) continue;
      std::string at = child(where, key);
      if (!it->is_array() || it->empty()) {
        issue(at, "takes a non-empty array of matches");
        continue;
      }
      auto& list = std::string(key) == "any_of" ? m.any_of : m.all_of;
      for (size_t i = 0; i < it->size(); ++i) list.push_back(match((*it)[i], child(at, i), depth + 1));
    }
    if (auto it = v.find("not"); it != v.end()) m.none_of.push_back(match(*it, child(where, "not"), depth + 1));
    return m;
  }

  // ---- sections ----

  std::string unique_id(const json& obj, const std::string& where) {
    std::string id = required_string(obj, where, "id");
    if (id.empty()) return id;
    if (!std::regex_match(id, kIdSyntax))
      issue(child(where, "id"), fmt::format("id \"{}\" should be lower-case dotted words (\"process.spawn\")", id));
    if (auto [it, fresh] = ids_.emplace(id, child(where, "id")); !fresh)
      issue(child(where, "id"), fmt::format("duplicate id \"{}\" (first at {})", id, it->second));
    return id;
  }

  void rule(const json& v, const std::string& where, CompiledPolicy* out) {
    if (!v.is_object()) return issue(where, "a rule is an object");
    known_keys(v, where, {"id", "description", "severity", "attack", "match", "explain", "summary"});
    Rule r;
    r.id = unique_id(v, where);
    r.description = optional_string(v, where, "description");
    if (!v.contains("severity")) issue(where, "missing \"severity\"");
    r.severity = severity(v, where, "severity", "info");
    r.attack = attack(v, where);
    if (!v.contains("match")) issue(where, "missing \"match\"");
    else r.match = match(v["match"], child(where, "match"));
    r.explain = required_string(v, where, "explain");
    template_text(r.explain, child(where, "explain"));
    r.summary = optional_string(v, where, "summary", r.explain);
    template_text(r.summary, child(where, "summary"));
    out->rules.push_back(std::move(r));
  }

  void allow(const json& v, const std::string& where, CompiledPolicy* out) {
    if (!v.is_object()) return issue(where, "an allow entry is an object");
    known_keys(v, where, {"id", "description", "match"});
    AllowRule a;
    a.id = unique_id(v, where);
    a.description = optional_string(v, where, "description");
    if (!v.contains("match")) issue(where, "missing \"match\"");
    else a.match = match(v["match"], child(where, "match"));
    out->allow.push_back(std::move(a));
  }

  void decoys(const json& v, CompiledPolicy* out) {
    if (!v.is_object()) return issue("/decoys", "must be an object");
    known_keys(v, "/decoys", {"files", "env"});
    if (v.contains("files")) out->decoy_files = strings(v["files"], "/decoys/files", false);
    if (v.contains("env")) out->decoy_env = strings(v["env"], "/decoys/env", false);
  }

  void score(const json& v, CompiledPolicy* out) {
    if (!v.is_object()) return issue("/score", "must be an object of severity → points");
    for (auto& [key, points] : v.items()) {
      if (!kSeverities.count(key)) issue(child("/score", key), fmt::format("unknown severity \"{}\"", key));
      else if (!points.is_number_integer() || points.get<int>() < 0 || points.get<int>() > 1000)
        issue(child("/score", key), "must be an integer from 0 to 1000");
      else out->score[key] = points.get<int>();
    }
  }

  CheckConfig check_base(const json& v, const std::string& where, CheckConfig base) {
    if (auto it = v.find("enabled"); it != v.end()) {
      if (!it->is_boolean()) issue(child(where, "enabled"), "must be true or false");
      else base.enabled = it->get<bool>();
    }
    base.severity = severity(v, where, "severity", base.severity);
    if (v.contains("attack")) base.attack = attack(v, where);
    return base;
  }

  int positive_int(const json& v, const std::string& where, const char* key, int fallback) {
    auto it = v.find(key);
    if (it == v.end()) return fallback;
    if (!it->is_number_integer() || it->get<int>() < 1) {
      issue(child(where, key), "must be a positive integer");
      return fallback;
    }
    return it->get<int>();
  }

  void checks(const json& v, Checks* c) {
    if (!v.is_object()) return issue("/checks", "must be an object of check name → settings");
    for (auto& [name, body] : v.items()) {
      std::string at = child("/checks", name);
      if (!body.is_object()) {
        issue(at, "must be an object");
        continue;
      }
      if (name == "harness_exec") {
        known_keys(body, at, {"enabled"});
        c->harness_exec = check_base(body, at, c->harness_exec);
      } else if (name == "exfiltration") {
        known_keys(body, at, {"enabled", "severity", "attack", "min_secret_length", "outbound"});
        c->exfiltration = check_base(body, at, c->exfiltration);
        c->min_secret_length = positive_int(body, at, "min_secret_length", static_cast<int>(c->min_secret_length));
        if (body.contains("outbound")) outbound(body["outbound"], child(at, "outbound"), c);
      } else if (name == "dynamic_code") {
        known_keys(body, at, {"enabled", "severity", "attack", "match"});
        c->dynamic_code = check_base(body, at, c->dynamic_code);
        if (!body.contains("match")) issue(at, "missing \"match\" (which events are code compiled from strings)");
        else c->dynamic_code_match = match(body["match"], child(at, "match"));
      } else if (name == "load_failed_after_calls") {
        known_keys(body, at, {"enabled", "severity", "attack", "benign_callables"});
        c->load_failed = check_base(body, at, c->load_failed);
        if (body.contains("benign_callables")) {
          auto globs = strings(body["benign_callables"], child(at, "benign_callables"), false);
          for (size_t i = 0; i < globs.size(); ++i)
            c->benign_callables.push_back(value(json{{"glob", globs[i]}}, child(child(at, "benign_callables"), i)));
        }
      } else if (name == "events_lost") {
        known_keys(body, at, {"enabled", "severity", "attack"});
        c->events_lost = check_base(body, at, c->events_lost);
      } else if (name == "timeout_mid_payload") {
        known_keys(body, at, {"enabled", "severity", "attack"});
        c->timeout_mid_payload = check_base(body, at, c->timeout_mid_payload);
      } else if (name == "fork_flood") {
        known_keys(body, at, {"enabled", "severity", "attack", "threshold", "with_limit_severity", "limits"});
        c->fork_flood = check_base(body, at, c->fork_flood);
        c->fork_flood_threshold = positive_int(body, at, "threshold", c->fork_flood_threshold);
        c->fork_flood_with_limit_severity = severity(body, at, "with_limit_severity", c->fork_flood_with_limit_severity);
        if (body.contains("limits")) c->fork_flood_limits = strings(body["limits"], child(at, "limits"), false);
      } else if (name == "attribution") {
        known_keys(body, at, {"enabled", "severity", "attack"});
        c->attribution = check_base(body, at, c->attribution);
      } else if (name == "phase_order") {
        known_keys(body, at, {"enabled", "severity", "attack"});
        c->phase_order = check_base(body, at, c->phase_order);
      } else {
        issue(at, fmt::format("unknown check \"{}\"", name));
      }
    }
  }

  void outbound(const json& v, const std::string& where, Checks* c) {
    if (!v.is_array()) return issue(where, "must be an array of {match, fields, to}");
    c->outbound.clear();
    for (size_t i = 0; i < v.size(); ++i) {
      std::string at = child(where, i);
      if (!v[i].is_object()) {
        issue(at, "must be an object");
        continue;
      }
      known_keys(v[i], at, {"match", "fields", "to"});
      OutboundChannel ch;
      if (!v[i].contains("match")) issue(at, "missing \"match\"");
      else ch.match = match(v[i]["match"], child(at, "match"));
      if (!v[i].contains("fields")) issue(at, "missing \"fields\"");
      else ch.fields = strings(v[i]["fields"], child(at, "fields"), false);
      ch.to = required_string(v[i], at, "to");
      template_text(ch.to, child(at, "to"));
      c->outbound.push_back(std::move(ch));
    }
  }

  const json& doc_;
  std::vector<LintIssue>* issues_;
  json macros_;
  std::set<std::string> used_macros_;
  std::map<std::string, std::string> ids_;  // id → where first defined
};

}  // namespace

CompiledPolicy compile_policy(const json& doc, std::vector<LintIssue>* issues) { return Compiler(doc, issues).run(); }

int severity_rank(const std::string& severity) {
  if (severity == "malicious") return 3;
  if (severity == "suspicious") return 2;
  if (severity == "info") return 1;
  return 0;
}

}  // namespace modelvet::policy
