// One self-contained HTML page: inline CSS, no scripts, no external resources. Every string
// from the report is escaped: paths, argv and evidence are written by the attacker.
#include <fmt/core.h>

#include <algorithm>

#include "policies/reports/reports.h"
#include "trace/bytes_text.h"

namespace modelvet::reports {
namespace {

using nlohmann::json;

constexpr const char* kStyle = R"(
body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#1d232a;background:#fafbfc}
h1{font-size:1.5em;margin:0 0 .2em} h2{font-size:1.15em;margin:1.6em 0 .4em;word-break:break-all}
h3{font-size:1em;margin:1em 0 .3em;color:#444}
table{border-collapse:collapse;width:100%;margin:.3em 0 1em;background:#fff}
th,td{border:1px solid #d8dde3;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eef1f4} td.mono,code{font-family:ui-monospace,monospace;font-size:12.5px;word-break:break-all}
.v{font-weight:600;padding:1px 8px;border-radius:9px;white-space:nowrap}
.malicious{background:#fde2e1;color:#a11}.suspicious{background:#fff1cc;color:#7a5500}
.benign{background:#dff5e3;color:#1a6b2d}.error{background:#ece2fb;color:#5b2a99}.info{background:#e8eef5;color:#345}
.meta{color:#5b6670}.file{border-top:2px solid #d8dde3;margin-top:2em}
)";

std::string escape(const std::string& raw) {
  // Report strings are bytes text already; anything else that is not UTF-8 is made so first.
  const std::string s = is_valid_utf8(raw) ? raw : escape_bytes(raw);
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  if (v.is_array()) {
    std::string out;
    for (const auto& e : v) {
      if (!out.empty()) out += ' ';
      out += text(e);
    }
    return out;
  }
  return v.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string field(const json& obj, const char* key) {
  auto it = obj.is_object() ? obj.find(key) : obj.end();
  return it == obj.end() ? "" : escape(text(*it));
}

// Reads that never throw on a report of unexpected shape.
std::string str(const json& obj, const char* key, const std::string& fallback = "") {
  auto it = obj.is_object() ? obj.find(key) : obj.end();
  return it != obj.end() && it->is_string() ? it->get<std::string>() : fallback;
}
double num(const json& obj, const char* key) {
  auto it = obj.is_object() ? obj.find(key) : obj.end();
  return it != obj.end() && it->is_number() ? it->get<double>() : 0;
}
json sub(const json& obj, const char* key, const json& fallback) {
  auto it = obj.is_object() ? obj.find(key) : obj.end();
  return it != obj.end() && it->type() == fallback.type() ? *it : fallback;
}

std::string badge(const std::string& verdict) {
  std::string cls = verdict == "malicious" || verdict == "suspicious" || verdict == "benign" || verdict == "info" ? verdict : "error";
  return fmt::format(R"(<span class="v {}">{}</span>)", cls, escape(verdict.empty() ? "error" : verdict));
}

// A table from an array of objects: one column per (key, heading).
std::string table(const json& rows, const std::vector<std::pair<const char*, const char*>>& columns) {
  if (!rows.is_array() || rows.empty()) return "";
  std::string out = "<table><tr>";
  for (const auto& [_, heading] : columns) out += fmt::format("<th>{}</th>", heading);
  out += "</tr>\n";
  for (const auto& row : rows) {
    out += "<tr>";
    for (const auto& [key, _] : columns) out += fmt::format(R"(<td class="mono">{}</td>)", row.is_object() ? field(row, key) : escape(text(row)));
    out += "</tr>\n";
  }
  return out + "</table>\n";
}

std::string list_section(const char* title, const json& items) {
  if (!items.is_array() || items.empty()) return "";
  std::string out = fmt::format("<h3>{}</h3><ul>", title);
  for (const auto& i : items) out += fmt::format("<li><code>{}</code></li>", escape(text(i)));
  return out + "</ul>\n";
}

std::string timeline(const json& findings) {
  if (!findings.is_array() || findings.empty()) return "<p class=\"meta\">No findings.</p>\n";
  std::vector<json> rows(findings.begin(), findings.end());
  std::stable_sort(rows.begin(), rows.end(), [](const json& a, const json& b) { return num(a, "t_ms") < num(b, "t_ms"); });
  std::string out = "<table><tr><th>t (ms)</th><th>phase</th><th>severity</th><th>rule</th><th>ATT&amp;CK</th><th>evidence</th></tr>\n";
  for (const auto& f : rows)
    out += fmt::format(R"(<tr><td>{}</td><td>{}</td><td>{}</td><td class="mono">{}</td><td>{}</td><td class="mono">{}</td></tr>)"
                       "\n",
                       field(f, "t_ms"), field(f, "phase"), badge(str(f, "severity", "info")), field(f, "rule"),
                       field(f, "attack"), field(f, "evidence"));
  return out + "</table>\n";
}

std::string behaviour(const json& b) {
  if (!b.is_object()) return "";
  std::string out;
  out += !sub(b, "processes", json::array()).empty() ? "<h3>Processes</h3>" + table(b["processes"], {{"pid", "pid"}, {"ppid", "ppid"}, {"argv", "argv"}}) : "";
  out += !sub(b, "network", json::array()).empty()
             ? "<h3>Network</h3>" + table(b["network"], {{"proto", "proto"}, {"dst", "destination"}, {"port", "port"}, {"sent_bytes", "bytes"}, {"sent_preview", "sent"}})
             : "";
  out += !sub(b, "dns", json::array()).empty() ? "<h3>DNS</h3>" + table(b["dns"], {{"name", "name"}, {"type", "type"}}) : "";
  const json files = sub(b, "files", json::object());
  out += list_section("Files read", sub(files, "read", json::array()));
  out += list_section("Files written", sub(files, "written", json::array()));
  out += list_section("Files deleted", sub(files, "deleted", json::array()));
  out += list_section("Decoys touched", sub(b, "decoys_touched", json::array()));
  return out;
}

std::string file_section(const json& r, size_t index) {
  std::string out = fmt::format(R"(<section class="file" id="f{}"><h2>{} {}</h2>)", index, badge(str(r, "verdict", "error")), field(r, "path"));
  out += fmt::format(R"(<p>{}</p><p class="meta">sha256 <code>{}</code> · {} bytes · format {} · loader {} · score {}</p>)",
                     field(r, "summary"), field(r, "sha256"), field(r, "size"), field(r, "format"), field(r, "loader"), field(r, "score"));
  if (!str(r, "error").empty()) out += fmt::format("<p><b>Error:</b> {}</p>", field(r, "error"));
  const json load = sub(r, "load", json::object());
  if (!load.empty()) out += fmt::format(R"(<p class="meta">load: {} {}</p>)", field(load, "status"), field(load, "exception"));
  out += "<h3>Timeline</h3>" + timeline(sub(r, "findings", json::array()));
  out += behaviour(sub(r, "behavior", json::object()));
  const json calls = sub(r, "calls", json::array());
  if (!calls.empty()) out += "<h3>Calls the file made</h3>" + table(calls, {{"callable", "callable"}, {"args", "args"}, {"origin", "origin"}});
  return out + "</section>\n";
}

}  // namespace

std::string to_html(const json& report) {
  const json results = sub(report, "results", json::array());
  const json summary = sub(report, "summary", json::object());
  const json tool = sub(report, "tool", json::object());
  const json policy = sub(report, "policy", json::object());
  std::string out = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                    "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
                    "<title>modelvet report</title><style>";
  out += kStyle;
  out += "</style></head><body>\n";
  out += fmt::format("<h1>modelvet report</h1><p class=\"meta\">{} {} · policy {} ({}) · {} files: {} malicious, {} suspicious, {} benign, {} error</p>\n",
                     field(tool, "name"), field(tool, "version"), field(policy, "name"),
                     field(policy, "sha256"), field(summary, "files"), field(summary, "malicious"),
                     field(summary, "suspicious"), field(summary, "benign"), field(summary, "error"));
  out += "<table><tr><th>file</th><th>verdict</th><th>format / loader</th><th>score</th><th>summary</th></tr>\n";
  for (size_t i = 0; i < results.size(); ++i) {
    const json& r = results[i];
    out += fmt::format(R"(<tr><td class="mono"><a href="#f{}">{}</a></td><td>{}</td><td>{} / {}</td><td>{}</td><td>{}</td></tr>)"
                       "\n",
                       i, field(r, "path"), badge(str(r, "verdict", "error")), field(r, "format"), field(r, "loader"),
                       field(r, "score"), field(r, "summary"));
  }
  out += "</table>\n";
  for (size_t i = 0; i < results.size(); ++i) out += file_section(results[i], i);
  return out + "</body></html>\n";
}

}  // namespace modelvet::reports
