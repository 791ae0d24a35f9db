// evaluate(): events → allow list → rules → derived checks → deduped findings → verdict.
#include <fmt/core.h>

#include <algorithm>
#include <set>

#include "policies/attribution.h"
#include "policies/checks.h"
#include "policies/compiler.h"
#include "policies/evidence.h"
#include "policies/policy.h"
#include "trace/event.h"
#include "policies/timeline.h"

namespace modelvet::policy {
namespace {

MatchEnv make_env(const CompiledPolicy& p, const Context& ctx) {
  MatchEnv env;
  env.vars = {ctx.home, ctx.scratch, ctx.model_path};
  for (const auto& f : ctx.decoy_files) env.decoy_files.insert(normalize_path(f, ctx));
  for (const auto& f : p.decoy_files) env.decoy_files.insert(normalize_path(f, ctx));
  env.decoy_env = p.decoy_env;
  for (const auto& [place, value] : ctx.decoy_secrets) {
    if (place.starts_with("env ")) env.decoy_env.push_back(place.substr(4));
    else if (place.starts_with("~") || place.starts_with("/")) env.decoy_files.insert(normalize_path(place, ctx));
    if (value.size() >= p.checks.min_secret_length) env.decoy_values.push_back(value);
  }
  return env;
}

// The harness's own first exec (the supervisor starting it) is not a spawn by the model.
int harness_exec_index(const Timeline& tl, const Context& ctx) {
  if (ctx.harness_pid == 0) return -1;
  for (size_t i = 0; i < tl.events.size(); ++i) {
    const Event& e = *tl.events[i].event;
    if (e.source == kSourceKernel && e.kind == kinds::kExec && e.pid == ctx.harness_pid) return static_cast<int>(i);
  }
  return -1;
}

std::vector<bool> allowed_events(const CompiledPolicy& p, const Timeline& tl, const Context& ctx, MatchEnv& env) {
  std::vector<bool> allowed(tl.events.size(), false);
  int harness = p.checks.harness_exec.enabled ? harness_exec_index(tl, ctx) : -1;
  for (size_t i = 0; i < tl.events.size(); ++i) {
    if (static_cast<int>(i) == harness) {
      allowed[i] = true;
      continue;
    }
    for (const AllowRule& a : p.allow)
      if (event_matches(a.match, tl.events[i].view, env)) {
        allowed[i] = true;
        break;
      }
  }
  return allowed;
}

// Gives each event its cause (policies/attribution.h) in its view, so rules can also match
// "cause". Returns which events are not the file's: they trigger no rule or check, and their
// rule matches are reported as labelled context instead.
std::vector<bool> not_the_files(const CompiledPolicy& p, Timeline& tl, const Context& ctx, std::vector<RawFinding>* notes) {
  std::vector<const Event*> order;
  order.reserve(tl.events.size());
  for (const TimedEvent& te : tl.events) order.push_back(te.event);
  AttributionContext actx;
  actx.harness_pid = p.checks.attribution.enabled ? ctx.harness_pid : 0;
  AttributionResult r = attribute(order, actx);
  std::vector<bool> out(tl.events.size(), false);
  for (size_t i = 0; i < tl.events.size(); ++i) {
    const Cause& c = r.causes[i];
    tl.events[i].view["cause"] = c.cause;
    if (c.cause == kCauseLibrary) tl.events[i].view["cause_reason"] = c.reason;
    else tl.events[i].view.erase("cause_reason");
    out[i] = p.checks.attribution.enabled && c.cause == kCauseLibrary;
  }
  if (!r.markers_valid && p.checks.attribution.enabled) {
    RawFinding f;
    f.finding = {"attribution.markers_inconsistent", p.checks.attribution.severity, p.checks.attribution.attack,
                 fmt::format("library attribution disabled, every event counted as the file's: {}", r.problem), 0, "", nullptr};
    f.summary = "cause markers did not add up";
    if (!tl.events.empty()) f.t_ns = tl.events.front().event->t_ns;
    notes->push_back(std::move(f));
  }
  return out;
}

// What an installed library did on its own (an event a rule would flag, attributed to the
// library): kept in the report as info, labelled, never a finding against the file.
std::vector<RawFinding> library_context(const CompiledPolicy& p, const Timeline& tl, const std::vector<bool>& allowed,
                                        const std::vector<bool>& library, const Context& ctx, MatchEnv& env) {
  std::vector<RawFinding> out;
  std::set<std::pair<std::string, std::string>> seen;
  for (size_t i = 0; i < tl.events.size(); ++i) {
    if (allowed[i] || !library[i]) continue;
    const TimedEvent& te = tl.events[i];
    for (const Rule& r : p.rules) {
      if (r.severity == "info" || !event_matches(r.match, te.view, env)) continue;
      std::string evidence = fmt::format("library ({}): {}", string_field(te.view, "cause_reason", "?"),
                                         render_template(r.explain, te.view, ctx.home));
      if (!seen.insert({r.id, evidence}).second || seen.size() > 40) continue;
      RawFinding f;
      nlohmann::json event = to_json(*te.event);
      event["cause"] = kCauseLibrary;
      event["cause_reason"] = string_field(te.view, "cause_reason", "");
      f.finding = {"context." + r.id, "info", r.attack, evidence, te.t_ms, te.phase, event};
      f.t_ns = te.event->t_ns;
      f.summary = evidence;
      out.push_back(std::move(f));
    }
  }
  return out;
}

std::vector<RawFinding> rule_findings(const CompiledPolicy& p, const Timeline& tl, const std::vector<bool>& allowed,
                                      const Context& ctx, MatchEnv& env) {
  std::vector<RawFinding> out;
  std::set<std::pair<std::string, std::string>> seen;  // (rule, evidence): a loop of 10,000 opens is one finding
  for (size_t i = 0; i < tl.events.size(); ++i) {
    if (allowed[i]) continue;
    const TimedEvent& te = tl.events[i];
    for (const Rule& r : p.rules) {
      if (!event_matches(r.match, te.view, env)) continue;
      std::string evidence = render_template(r.explain, te.view, ctx.home);
      if (!seen.insert({r.id, evidence}).second) continue;
      RawFinding f;
      nlohmann::json event = to_json(*te.event);
      event["cause"] = string_field(te.view, "cause", kCauseFile);
      f.finding = {r.id, r.severity, r.attack, evidence, te.t_ms, te.phase, event};
      f.t_ns = te.event->t_ns;
      f.summary = render_template(r.summary, te.view, ctx.home);
      out.push_back(std::move(f));
    }
  }
  return out;
}

// Dedupes, orders by time and keeps at most kMaxFindings, preferring the most severe.
std::vector<RawFinding> collate(std::vector<RawFinding> all) {
  std::stable_sort(all.begin(), all.end(), [](const RawFinding& a, const RawFinding& b) { return a.t_ns < b.t_ns; });
  std::vector<RawFinding> unique;
  std::set<std::pair<std::string, std::string>> seen;
  for (auto& f : all)
    if (seen.insert({f.finding.rule, f.finding.evidence}).second) unique.push_back(std::move(f));
  if (unique.size() <= kMaxFindings) return unique;
  std::vector<size_t> order(unique.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return severity_rank(unique[a].finding.severity) > severity_rank(unique[b].finding.severity);
  });
  order.resize(kMaxFindings);
  std::sort(order.begin(), order.end());
  std::vector<RawFinding> kept;
  for (size_t i : order) kept.push_back(unique[i]);
  RawFinding note;
  note.finding.rule = "findings.truncated";
  note.finding.severity = "info";
  note.finding.evidence = fmt::format("+{} more findings not listed", unique.size() - kMaxFindings);
  note.finding.t_ms = kept.back().finding.t_ms;
  note.t_ns = kept.back().t_ns;
  kept.push_back(std::move(note));
  return kept;
}

std::string summarize(const std::vector<RawFinding>& findings, const std::string& verdict) {
  if (verdict == "benign") return "nothing outside the benign profile ran";
  std::vector<std::string> phrases, phases;
  size_t more = 0;
  // What the kernel, the fake network and the whole-run checks saw leads; the harness's
  // Python-level hints follow.
  std::vector<const RawFinding*> ordered;
  for (bool python : {false, true})
    for (const auto& f : findings)
      if ((str_field(f.finding.event, "source") == "python") == python) ordered.push_back(&f);
  for (const RawFinding* fp : ordered) {
    const RawFinding& f = *fp;
    if (f.finding.severity != verdict) continue;
    if (std::find(phrases.begin(), phrases.end(), f.summary) != phrases.end()) continue;
    if (phrases.size() == 3) {
      ++more;
      continue;
    }
    phrases.push_back(f.summary);
    const std::string& ph = f.finding.phase;
    if (!ph.empty() && std::find(phases.begin(), phases.end(), ph) == phases.end()) phases.push_back(ph);
  }
  if (more) phrases.push_back(fmt::format("{} more", more));
  std::string sentence = join_sentence(phrases);
  if (!phases.empty()) sentence += " during " + join_sentence(phases);
  return sentence;
}

}  // namespace

Verdict evaluate(const Policy& policy, const Events& events, const Context& context) {
  const CompiledPolicy& p = *policy.compiled;
  MatchEnv env = make_env(p, context);
  Timeline tl = build_timeline(events, context);
  std::vector<RawFinding> notes;
  std::vector<bool> library = not_the_files(p, tl, context, &notes);
  std::vector<bool> allowed = allowed_events(p, tl, context, env);
  std::vector<RawFinding> context_notes = library_context(p, tl, allowed, library, context, env);
  for (size_t i = 0; i < allowed.size(); ++i) allowed[i] = allowed[i] || library[i];
  std::vector<RawFinding> found = rule_findings(p, tl, allowed, context, env);
  found.insert(found.end(), notes.begin(), notes.end());
  found.insert(found.end(), context_notes.begin(), context_notes.end());
  std::vector<RawFinding> derived = run_checks({p, context, tl, allowed, found, env});
  found.insert(found.end(), derived.begin(), derived.end());

  Verdict v;
  int top = 0;
  for (const auto& f : found) top = std::max(top, severity_rank(f.finding.severity));
  v.verdict = top >= severity_rank("malicious") ? "malicious" : top >= severity_rank("suspicious") ? "suspicious" : "benign";
  for (const auto& f : found) {
    auto it = p.score.find(f.finding.severity);
    if (it != p.score.end()) v.score = std::max(v.score, it->second);
  }
  std::vector<RawFinding> kept = collate(std::move(found));
  v.summary = summarize(kept, v.verdict);
  for (auto& f : kept) v.findings.push_back(std::move(f.finding));
  return v;
}

}  // namespace modelvet::policy
