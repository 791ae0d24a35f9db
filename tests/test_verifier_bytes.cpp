// Every byte survives the reports: a path, an argv, a DNS name, a payload preview and an
// exception text that are not UTF-8 go from where they enter (the tracer's decoder, the fake
// network, the harness) through JSON, JSON Lines, SARIF, HTML, text and a trace, exactly
// (bytes text, trace/bytes_text.h), and the trace replays to the same verdict.
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

#include <fmt/core.h>
#include <gtest/gtest.h>

#include "policies/policy.h"
#include "sandbox/fake_net.h"
#include "trace/bytes_text.h"
#include "trace/trace.h"
#include "tracer/record_decoder.h"
#include "tracer/trace_records.h"
#include "verifier/classify.h"
#include "verifier/report.h"

namespace modelvet {
namespace {
namespace fs = std::filesystem;

const std::string kPath = "/home/alice/models/b_latin1_\xe9\xff.pkl";
const std::string kArg = "-c\xff\\x41";  // not UTF-8, and a literal "\x41" that must stay text
const std::string kDns = "c2\xfe.evil.invalid";
const std::string kSent = "secret\xff\\n\x01";
const std::string kException = "FileNotFoundError: [Errno 2] No such file: '/home/alice/\xe9\xff'";

Event decoded_exec() {
  auto rec = std::make_unique<mv_exec_rec>();
  std::memset(rec.get(), 0, sizeof *rec);
  rec->h.type = MV_REC_EXEC;
  rec->h.t_ns = 30;
  rec->h.pid = 200;
  rec->h.tid = 200;
  rec->h.ppid = 100;
  std::strcpy(rec->h.comm, "sh\xe9");
  std::strcpy(rec->filename, "/bin/sh");
  std::string args = std::string("/bin/sh") + '\0' + kArg + '\0' + "id";
  std::memcpy(rec->args, args.data(), args.size());
  rec->args_len = uint32_t(args.size() + 1);
  rec->dirfd = -100;
  auto d = tracer::decode_record(rec.get(), sizeof *rec);
  EXPECT_TRUE(d.has_value());
  return d ? d->event : Event{};
}

Event decoded_open() {
  auto rec = std::make_unique<mv_syscall_rec>();
  std::memset(rec.get(), 0, sizeof *rec);
  rec->h.type = MV_REC_SYSCALL;
  rec->h.t_ns = 25;
  rec->h.pid = 200;
  rec->h.tid = 200;
  rec->nr = SYS_openat;
  rec->args[0] = uint64_t(-100);
  rec->ret = 3;
  std::strcpy(rec->str[0], kPath.c_str());
  rec->len[0] = int(kPath.size() + 1);
  auto d = tracer::decode_record(rec.get(), sizeof *rec);
  EXPECT_TRUE(d.has_value());
  return d ? d->event : Event{};
}

Event ev(uint64_t t, const char* source, const char* kind, nlohmann::json data, int pid = 2) {
  Event e;
  e.t_ns = t, e.source = source, e.kind = kind, e.pid = pid, e.data = std::move(data);
  return e;
}

Trace hostile_trace() {
  Trace t;
  t.header.sample.path = escape_bytes(kPath);
  t.header.sample.format = "pickle";
  t.header.sample.loader = "pickle";
  t.header.run.ran = true;
  t.header.run.harness_end = "exit 0";
  t.header.context.home = "/home/alice";
  t.header.context.model_path = escape_bytes(kPath);
  t.events = {ev(10, "python", "phase", {{"name", "load"}}),
              decoded_open(),
              decoded_exec(),
              ev(40, "net", "dns", {{"name", escape_bytes(kDns)}, {"type", "A"}}, 0),
              ev(41, "net", "tcp_connect", {{"peer", "127.0.0.1:5555"}, {"port", 4444}, {"sent_bytes", kSent.size()},
                                            {"sent_preview", sandbox::printable_preview(kSent, 256)},
                                            {"payload", sandbox::printable_preview(kSent, 65536)}}, 0),
              ev(50, "python", "load", {{"status", "raised"}, {"exception", escape_bytes(kException)}, {"loader", "pickle"}}),
              ev(60, "python", "phase", {{"name", "shutdown"}})};
  sort_events(t.events);
  return t;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST(VerifierBytes, TheEntryPointsEscapeWhatTheyCarry) {
  Event open = decoded_open();
  EXPECT_EQ(open.data.value("path", ""), "/home/alice/models/b_latin1_\\xe9\\xff.pkl");
  Event exec = decoded_exec();
  ASSERT_EQ(exec.data["argv"].size(), 3u);
  EXPECT_EQ(exec.data["argv"][1], "-c\\xff\\\\x41");
  EXPECT_EQ(unescape_bytes(exec.data["argv"][1].get<std::string>()), kArg);
  EXPECT_EQ(exec.data.value("comm", ""), "sh\\xe9");
}

TEST(VerifierBytes, EveryFieldSurvivesEveryFormatAndTheTraceReplaysTheSameVerdict) {
  Trace t = hostile_trace();
  auto pol = policy::default_policy();
  nlohmann::json r = classify(t, pol);
  nlohmann::json doc = make_document({{{"kernel", "test"}, {"tracer", "ebpf"}, {"sandbox", "namespaces+seccomp"}}, pol.name, pol.sha256}, {r});

  const std::string path_text = escape_bytes(kPath);
  for (const char* format : {"json", "text", "sarif", "html"}) {
    std::string out;
    ASSERT_NO_THROW(out = render(doc, format, false)) << format;
    EXPECT_TRUE(is_valid_utf8(out)) << format;
    EXPECT_EQ(out.find("\xef\xbf\xbd"), std::string::npos) << format << ": a byte was replaced by U+FFFD";
  }
  // JSON: each kind of field, exact once unescaped.
  nlohmann::json back = nlohmann::json::parse(render(doc, "json", false));
  const auto& res = back["results"][0];
  EXPECT_EQ(unescape_bytes(res["path"].get<std::string>()), kPath);
  EXPECT_EQ(unescape_bytes(res["load"]["exception"].get<std::string>()), kException);
  bool argv_seen = false, dns_seen = false, preview_seen = false;
  for (const auto& p : res["behavior"]["processes"])
    for (const auto& a : p["argv"]) argv_seen |= unescape_bytes(a.get<std::string>()) == kArg;
  for (const auto& d : res["behavior"]["dns"]) dns_seen |= unescape_bytes(d.value("name", "")) == kDns;
  for (const auto& n : res["behavior"]["network"]) preview_seen |= unescape_bytes(n.value("sent_preview", "")) == kSent;
  EXPECT_TRUE(argv_seen) << res["behavior"].dump(2);
  EXPECT_TRUE(dns_seen) << res["behavior"].dump(2);
  EXPECT_TRUE(preview_seen || res["behavior"]["network"].empty()) << res["behavior"].dump(2);
  // JSON Lines (batch's line form) is the same document per result, compact.
  std::string line = r.dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
  EXPECT_EQ(unescape_bytes(nlohmann::json::parse(line)["path"].get<std::string>()), kPath);
  // Text and HTML name the file by its bytes text; SARIF's URI percent-encodes its exact bytes.
  EXPECT_NE(render(doc, "text", false).find("b_latin1_\\xe9\\xff.pkl"), std::string::npos);
  EXPECT_NE(render(doc, "html", false).find("b_latin1_\\xe9\\xff.pkl"), std::string::npos);
  EXPECT_NE(render(doc, "sarif", false).find("b_latin1_%E9%FF.pkl"), std::string::npos);

  // The trace: written, valid UTF-8, read back with the same strings, the same verdict.
  fs::path dir = fs::temp_directory_path() / fmt::format("mv-bytes-{}", getpid());
  fs::create_directories(dir);
  std::string file = (dir / "t.trace.jsonl").string(), error;
  ASSERT_TRUE(write_trace(t, file, &error)) << error;
  std::string text = slurp(file);
  EXPECT_TRUE(is_valid_utf8(text));
  EXPECT_EQ(text.find("\xef\xbf\xbd"), std::string::npos);
  Trace replayed;
  ASSERT_TRUE(read_trace(file, &replayed, &error)) << error;
  EXPECT_EQ(replayed.header.sample.path, path_text);
  ASSERT_EQ(replayed.events.size(), t.events.size());
  for (size_t i = 0; i < t.events.size(); ++i) EXPECT_EQ(replayed.events[i].data, t.events[i].data) << i;
  nlohmann::json again = classify(replayed, pol);
  EXPECT_EQ(again["verdict"], r["verdict"]);
  EXPECT_EQ(again["findings"], r["findings"]);
  EXPECT_EQ(again["summary"], r["summary"]);
  fs::remove_all(dir);
}

TEST(VerifierBytes, BytesThatSkippedTheEntryPointsAreEscapedNotLostAndNothingThrows) {
  Trace t = hostile_trace();
  auto pol = policy::default_policy();
  nlohmann::json r;
  ASSERT_NO_THROW(r = classify(t, pol));
  // What no entry point escaped (a zip member name from the pre-scan, a raw string in an event):
  // the guard where reports and traces are written makes it bytes text.
  t.header.static_scan = {{"members", {std::string("archive/\xff\xfe.pkl")}}};
  t.events.push_back(ev(70, "python", "harness_error", {{"message", std::string("raw \xc3\x28 bytes")}}));
  r["static"] = t.header.static_scan;
  r["summary"] = std::string("raw \xc3\x28 bytes");
  nlohmann::json doc = make_document({{}, pol.name, pol.sha256}, {r});
  for (const char* format : {"json", "text", "sarif", "html"}) {
    std::string out;
    ASSERT_NO_THROW(out = render(doc, format, false)) << format;
    EXPECT_TRUE(is_valid_utf8(out)) << format;
  }
  EXPECT_NE(render(doc, "json", false).find("archive/\\\\xff\\\\xfe.pkl"), std::string::npos);
  fs::path dir = fs::temp_directory_path() / fmt::format("mv-bytes2-{}", getpid());
  fs::create_directories(dir);
  std::string error;
  ASSERT_TRUE(write_trace(t, (dir / "t.jsonl").string(), &error)) << error;
  EXPECT_TRUE(is_valid_utf8(slurp((dir / "t.jsonl").string())));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace modelvet
