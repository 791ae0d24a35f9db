#include "policies/checks.h"

#include <openssl/evp.h>
#include <fmt/core.h>

#include <algorithm>
#include <map>

#include "policies/evidence.h"

namespace modelvet::policy {
namespace {

using nlohmann::json;

// ---- shared helpers ----

RawFinding make_finding(const std::string& rule, const CheckConfig& cfg, const std::string& evidence,
                        const std::string& summary, const TimedEvent* at) {
  RawFinding f;
  f.finding.rule = rule;
  f.finding.severity = cfg.severity;
  f.finding.attack = cfg.attack;
  f.finding.evidence = printable(evidence, 400);
  f.summary = printable(summary, 160);
  if (at) {
    f.finding.t_ms = at->t_ms;
    f.finding.phase = at->phase;
    f.finding.event = to_json(*at->event);
    f.t_ns = at->event->t_ns;
  }
  return f;
}

bool has_finding_at_least(const std::vector<RawFinding>& findings, int rank) {
  return std::any_of(findings.begin(), findings.end(),
                     [&](const RawFinding& f) { return severity_rank(f.finding.severity) >= rank; });
}

bool is_payload_phase(const std::string& phase) { return phase != kPhaseSetup; }

std::string text_of(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_array()) {
    std::string out;
    for (const auto& e : v) out += text_of(e) + " ";
    return out;
  }
  return v.is_null() ? "" : v.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string lowercase(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// ---- exfiltration ----

struct Needle {
  std::string text, encoding;
};

std::string base64(const std::string& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(n);
  return out;
}

// The forms a secret takes in outbound bytes: as is (or a long enough piece of it, since
// previews are cut), hex, and base64 at each of the three alignments it can start on.
std::vector<Needle> needles_for(const std::string& secret) {
  std::vector<Needle> out = {{secret, "plain"}};
  // 24 random characters never occur by chance; DNS labels and previews cut secrets short.
  constexpr size_t kPiece = 24, kStride = 8;
  if (secret.size() > kPiece) {
    for (size_t at = 0; at + kPiece <= secret.size(); at += kStride) out.push_back({secret.substr(at, kPiece), "plain"});
    out.push_back({secret.substr(secret.size() - kPiece), "plain"});
  }
  std::string hex;
  for (unsigned char c : secret) hex += fmt::format("{:02x}", c);
  out.push_back({hex, "hex"});
  for (int pad = 0; pad < 3; ++pad) {
    std::string b64 = base64(std::string(pad, '\0') + secret);
    // Drop the characters the padding or the following bytes can change.
    size_t skip = pad == 0 ? 0 : 4;
    if (b64.size() < skip + 4 + 12) continue;
    std::string middle = b64.substr(skip, b64.size() - skip - 4);
    out.push_back({middle, "base64"});
    std::string url = middle;
    std::replace(url.begin(), url.end(), '+', '-');
    std::replace(url.begin(), url.end(), '/', '_');
    if (url != middle) out.push_back({url, "base64url"});
  }
  return out;
}

void exfiltration(const CheckInput& in, std::vector<RawFinding>* out) {
  const Checks& c = in.policy.checks;
  // One value may be planted in several places: name them all.
  std::map<std::string, std::vector<std::string>> places_by_value;
  for (const auto& [place, value] : in.context.decoy_secrets)
    if (value.size() >= c.min_secret_length) places_by_value[value].push_back(place);
  if (places_by_value.empty()) return;
  std::vector<std::pair<std::string, std::vector<Needle>>> secrets;
  for (const auto& [value, places] : places_by_value) secrets.push_back({join_sentence(places), needles_for(value)});

  for (size_t i = 0; i < in.timeline.events.size(); ++i) {
    if (in.allowed[i]) continue;
    const TimedEvent& te = in.timeline.events[i];
    for (const OutboundChannel& ch : c.outbound) {
      if (!event_matches(ch.match, te.view, in.env)) continue;
      std::string bytes;
      for (const auto& field : ch.fields)
        if (te.view.contains(field)) bytes += text_of(te.view[field]) + "\n";
      std::string lower = lowercase(bytes);
      for (const auto& [places, needles] : secrets) {
        auto hit = std::find_if(needles.begin(), needles.end(), [&](const Needle& n) {
          return bytes.find(n.text) != std::string::npos ||
                 (n.encoding != "base64" && lower.find(lowercase(n.text)) != std::string::npos);
        });
        if (hit == needles.end()) continue;
        std::string to = render_template(ch.to, te.view, in.context.home);
        std::string how = hit->encoding == "plain" ? "" : " (" + hit->encoding + ")";
        out->push_back(make_finding("exfiltration.decoy_secret", c.exfiltration,
                                    fmt::format("sent the decoy secret from {}{} to {} ({} {})", places, how, to,
                                                te.event->source, te.event->kind),
                                    fmt::format("sent the decoy secret from {} to {}", places, to), &te));
      }
      break;  // one channel per event
    }
  }
}

// ---- code that ran ----

bool benign_callable(const CheckInput& in, const json& callable) {
  return std::any_of(in.policy.checks.benign_callables.begin(), in.policy.checks.benign_callables.end(),
                     [&](const ValueMatcher& m) { return value_matches(m, &callable, in.env); });
}

// "call" events of callables outside the benign list, in payload phases.
std::vector<const TimedEvent*> unlisted_calls(const CheckInput& in) {
  std::vector<const TimedEvent*> calls;
  for (size_t i = 0; i < in.timeline.events.size(); ++i) {
    const TimedEvent& te = in.timeline.events[i];
    if (in.allowed[i] || te.event->source != kSourcePython || te.event->kind != kinds::kCall || !is_payload_phase(te.phase)) continue;
    if (!benign_callable(in, te.view.contains("callable") ? te.view["callable"] : json())) calls.push_back(&te);
  }
  return calls;
}

std::vector<const TimedEvent*> dynamic_code_events(const CheckInput& in) {
  std::vector<const TimedEvent*> out;
  if (!in.policy.checks.dynamic_code_match) return out;
  for (size_t i = 0; i < in.timeline.events.size(); ++i)
    if (!in.allowed[i] && event_matches(*in.policy.checks.dynamic_code_match, in.timeline.events[i].view, in.env))
      out.push_back(&in.timeline.events[i]);
  return out;
}

void dynamic_code(const CheckInput& in, std::vector<RawFinding>* out) {
  auto events = dynamic_code_events(in);
  if (events.empty()) return;
  const TimedEvent& first = *events.front();
  // With an observable effect the effect is the finding; the compile is context.
  CheckConfig cfg = in.policy.checks.dynamic_code;
  bool had_effect = has_finding_at_least(in.rule_findings, severity_rank("suspicious"));
  if (had_effect) cfg.severity = "info";
  std::string what = first.event->kind == kinds::kCall ? string_field(first.view, "callable", "") : string_field(first.view, "event", first.event->kind);
  std::string source = printable(text_of(first.view.contains("args") ? first.view["args"] : json()), 80);
  out->push_back(make_finding("code.dynamic", cfg,
                              fmt::format("{} of code from a string during {}{}: {}", what, first.phase,
                                          had_effect ? "" : " with no observable effect", source),
                              had_effect ? "compiled code from a string" : "ran code compiled from a string with no observable effect",
                              &first));
}

void load_failed(const CheckInput& in, std::vector<RawFinding>* out) {
  const TimedEvent* load = nullptr;
  for (const auto& te : in.timeline.events)
    if (te.event->source == kSourcePython && te.event->kind == kinds::kLoad) {
      load = &te;
      break;
    }
  if (!load || string_field(load->view, "status", "") != "raised") return;
  std::vector<std::string> names;
  for (const TimedEvent* call : unlisted_calls(in)) {
    if (call->event->t_ns > load->event->t_ns) break;
    std::string name = printable(string_field(call->view, "callable", "?"), 80);
    if (std::find(names.begin(), names.end(), name) == names.end() && names.size() < 5) names.push_back(name);
  }
  if (names.empty()) return;
  std::string exception = printable(string_field(load->view, "exception", string_field(load->view, "type", "an exception")), 120);
  out->push_back(make_finding("load.failed_after_calls", in.policy.checks.load_failed,
                              fmt::format("the load raised {} after calling {}", exception, join_sentence(names)),
                              fmt::format("failed to load after calling {}", join_sentence(names)), load));
}

// ---- the run as a whole ----

void events_lost(const CheckInput& in, std::vector<RawFinding>* out) {
  if (in.context.dropped == 0) return;
  CheckConfig cfg = in.policy.checks.events_lost;
  if (has_finding_at_least(in.rule_findings, severity_rank("malicious"))) cfg.severity = "info";  // already explained
  const TimedEvent* last = in.timeline.events.empty() ? nullptr : &in.timeline.events.back();
  RawFinding f = make_finding("tracer.events_lost", cfg,
                              fmt::format("the tracer lost {} events: the trace may be incomplete", in.context.dropped),
                              fmt::format("lost {} trace events", in.context.dropped), nullptr);
  if (last) {
    f.finding.t_ms = last->t_ms;
    f.t_ns = last->event->t_ns;
  }
  out->push_back(std::move(f));
}

void timeout_mid_payload(const CheckInput& in, std::vector<RawFinding>* out) {
  const TimedEvent* timeout = nullptr;
  for (const auto& te : in.timeline.events)
    if (te.event->kind == kinds::kLimit && string_field(te.view, "resource", "") == "timeout") {
      timeout = &te;
      break;
    }
  if (!timeout && !in.context.timed_out) return;
  // Payload activity: anything a rule flagged, an unlisted call, or code from a string.
  std::string activity;
  auto flagged = std::find_if(in.rule_findings.begin(), in.rule_findings.end(),
                              [](const RawFinding& f) { return severity_rank(f.finding.severity) >= 2; });
  auto calls = unlisted_calls(in);
  auto code = dynamic_code_events(in);
  if (flagged != in.rule_findings.end()) activity = flagged->finding.evidence;
  else if (!calls.empty()) activity = "called " + string_field(calls.front()->view, "callable", "?");
  else if (!code.empty()) activity = "compiled code from a string";
  else return;
  RawFinding f = make_finding("run.timeout_mid_payload", in.policy.checks.timeout_mid_payload,
                              fmt::format("timed out while the payload was running (it had {})", printable(activity, 160)),
                              "timed out mid-payload", timeout);
  if (!timeout && !in.timeline.events.empty()) {
    f.finding.t_ms = in.timeline.events.back().t_ms;
    f.t_ns = in.timeline.events.back().event->t_ns;
  }
  out->push_back(std::move(f));
}

void fork_flood(const CheckInput& in, std::vector<RawFinding>* out) {
  const Checks& c = in.policy.checks;
  int forks = 0;
  const TimedEvent* at = nullptr;
  std::string limit;
  for (size_t i = 0; i < in.timeline.events.size(); ++i) {
    const TimedEvent& te = in.timeline.events[i];
    if (in.allowed[i] || !is_payload_phase(te.phase)) continue;
    if (te.event->source == kSourceKernel && te.event->kind == kinds::kFork && ++forks == c.fork_flood_threshold) at = &te;
    std::string resource = string_field(te.view, "resource", "");
    if (te.event->kind == kinds::kLimit && limit.empty() &&
        std::find(c.fork_flood_limits.begin(), c.fork_flood_limits.end(), resource) != c.fork_flood_limits.end())
      limit = resource;
  }
  if (forks < c.fork_flood_threshold) return;
  CheckConfig cfg = c.fork_flood;
  if (!limit.empty()) cfg.severity = c.fork_flood_with_limit_severity;
  std::string tail = limit.empty() ? "" : fmt::format(" and hit the {} limit", limit);
  out->push_back(make_finding("resource.fork_flood", cfg, fmt::format("forked {} processes{}", forks, tail),
                              fmt::format("fork-flooded ({} forks{})", forks, tail), at));
}

void phase_order(const CheckInput& in, std::vector<RawFinding>* out) {
  for (const TimedEvent& te : in.timeline.ignored_markers)
    out->push_back(make_finding("harness.phase_order", in.policy.checks.phase_order,
                                fmt::format("phase marker \"{}\" arrived during {} (out of order): the harness's "
                                            "event pipe was written by someone else",
                                            string_field(te.view, "name", "?"), te.phase),
                                "forged harness phase markers", &te));
}

}  // namespace

std::vector<RawFinding> run_checks(const CheckInput& in) {
  const Checks& c = in.policy.checks;
  std::vector<RawFinding> out;
  if (c.exfiltration.enabled) exfiltration(in, &out);
  if (c.dynamic_code.enabled) dynamic_code(in, &out);
  if (c.load_failed.enabled) load_failed(in, &out);
  if (c.fork_flood.enabled) fork_flood(in, &out);
  if (c.phase_order.enabled) phase_order(in, &out);
  // These two weigh what the others found, so they run last and see it all.
  std::vector<RawFinding> all = in.rule_findings;
  all.insert(all.end(), out.begin(), out.end());
  CheckInput whole{in.policy, in.context, in.timeline, in.allowed, all, in.env};
  if (c.timeout_mid_payload.enabled) timeout_mid_payload(whole, &out);
  if (c.events_lost.enabled) events_lost(whole, &out);
  return out;
}

}  // namespace modelvet::policy
