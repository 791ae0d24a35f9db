// Every byte survives the reports: a path, an argv, a DNS name, a payload preview and an
// exception text that are not UTF-8 go from where they enter (the tracer's decoder, the fake
// network, the harness) through JSON, JSON Lines, SARIF, HTML, text and a trace, exactly
// (bytes text, trace/bytes_text.h), and the trace replays to the same verdict.
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>

#include <fmt/core.h>
#include <gtest/gtest.h>

#include "policies/policy.h"
#include "policies/timeline.h"
#include "sandbox/fake_net.h"
#include "tests/detonation_support.h"
#include "trace/bytes_text.h"
#include "trace/trace.h"
#include "tracer/record_decoder.h"
#include "tracer/trace_records.h"
#include "verifier/batch_output.h"
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

TEST(VerifierBytes, BatchLinesCarryEveryNameAsBytesTextAndResumeFindsThem) {
  Trace t = hostile_trace();
  nlohmann::json r = classify(t, policy::default_policy());
  const std::string copy = "/models/copy_\xfe.pkl";
  nlohmann::json one = result_for_name(r, kPath, nullptr, nullptr);
  nlohmann::json dup = result_for_name(r, copy, &kPath, {{"status", "unsafe"}});
  EXPECT_EQ(one["path"], escape_bytes(kPath));
  EXPECT_EQ(dup["path"], escape_bytes(copy));
  EXPECT_EQ(dup["duplicate_of"], escape_bytes(kPath));
  EXPECT_TRUE(dup.contains("reclassification"));
  // An error that quotes a raw name (an input the walk could not read): exact, never U+FFFD.
  nlohmann::json failed = result_for_name(error_result({{"path", result_path(copy)}}, "cannot read " + copy), copy, nullptr, nullptr);
  std::string lines;
  for (const auto& j : {one, dup, failed}) {
    std::string line;
    ASSERT_NO_THROW(line = jsonl_line(j));
    EXPECT_TRUE(is_valid_utf8(line));
    EXPECT_EQ(line.find("\xef\xbf\xbd"), std::string::npos) << line;
    EXPECT_EQ(line.back(), '\n');
    EXPECT_EQ(line.find('\n'), line.size() - 1) << "one line per result";
    lines += line;
  }
  auto back = nlohmann::json::parse(jsonl_line(failed));
  EXPECT_EQ(unescape_bytes(back["path"].get<std::string>()), copy);
  EXPECT_EQ(unescape_bytes(back["error"].get<std::string>()), "cannot read " + copy);
  // --resume reads those lines back and knows both names by their bytes.
  fs::path file = fs::temp_directory_path() / fmt::format("mv-bytes-resume-{}.jsonl", getpid());
  std::ofstream(file, std::ios::binary) << lines;
  ResumeState st = resume_output(file.string());
  EXPECT_TRUE(st.warnings.empty());
  EXPECT_TRUE(st.has(kPath));
  EXPECT_TRUE(st.has(copy));
  EXPECT_FALSE(st.has("/models/copy_\xfd.pkl"));
  fs::remove(file);
}

TEST(VerifierBytes, TheTimelineOrdersRawBytesWithoutThrowingWhateverTheInputOrder) {
  // Events that skipped every entry point (raw bytes in their data), tied on time, source, kind
  // and pid: ordered by their exact content, the same from any input order.
  Events events = {ev(5, "kernel", "open", {{"path", std::string("/tmp/a\xff")}}, 7),
                   ev(5, "kernel", "open", {{"path", std::string("/tmp/a\xfe")}}, 7),
                   ev(5, "kernel", "open", {{"path", "/tmp/a"}}, 7),
                   ev(1, "python", "phase", {{"name", "load"}})};
  policy::Context ctx;
  policy::Timeline forward, backward;
  ASSERT_NO_THROW(forward = policy::build_timeline(events, ctx));
  Events reversed(events.rbegin(), events.rend());
  ASSERT_NO_THROW(backward = policy::build_timeline(reversed, ctx));
  ASSERT_EQ(forward.events.size(), 4u);
  ASSERT_EQ(backward.events.size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(forward.events[i].event->data, backward.events[i].event->data) << i;
  std::set<std::string> paths;
  for (const auto& te : forward.events) paths.insert(te.event->data.value("path", ""));
  EXPECT_EQ(paths.size(), 4u) << "two raw names collapsed into one";
}

std::vector<std::string> file_lines(const fs::path& p) {
  std::vector<std::string> out;
  std::ifstream in(p, std::ios::binary);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

TEST(VerifierBytes, BatchOfANameThatIsNotUtf8WritesItExactlyAndResumesIt) {
  testing::assert_jail_is_isolated();
  fs::path dir = fs::temp_directory_path() / fmt::format("mv-bytes-batch-{}", getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string odd = (dir / "b_latin1_\xe9\xff.pkl").string(), plain = (dir / "a_plain.pkl").string();
  std::ofstream(odd, std::ios::binary) << std::string("\x80\x02}q\x00.", 6);
  std::ofstream(plain, std::ios::binary) << std::string("\x80\x02}q\x01.", 6);
  fs::path out = dir.string() + ".jsonl";
  fs::remove(out);
  auto run = testing::run_modelvet("batch --quiet --jobs 2 --grace-ms 0 --output '" + out.string() + "' '" + dir.string() + "'");
  EXPECT_NE(run.exit_code, 2) << "an error result or a usage error";
  auto lines = file_lines(out);
  ASSERT_EQ(lines.size(), 2u);
  std::map<std::string, nlohmann::json> by_path;
  for (const auto& l : lines) {
    EXPECT_TRUE(is_valid_utf8(l));
    auto j = nlohmann::json::parse(l, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << l;
    by_path[unescape_bytes(j.value("path", ""))] = j;
  }
  ASSERT_TRUE(by_path.count(odd)) << lines[0] << "\n" << lines[1];
  EXPECT_EQ(by_path[odd]["path"], escape_bytes(odd));
  EXPECT_NE(by_path[odd]["verdict"], "error") << "the name broke the verification: " << by_path[odd].dump();
  EXPECT_TRUE(by_path.count(plain));
  // --resume knows the odd name: nothing is verified again, nothing is written twice.
  auto again = testing::run_modelvet("batch --quiet --resume --output '" + out.string() + "' '" + dir.string() + "'");
  EXPECT_EQ(again.exit_code, 0);
  EXPECT_EQ(file_lines(out).size(), 2u);
  fs::remove(out);
  fs::remove_all(dir);
}

TEST(VerifierBytes, TheAuditHookCarriesAPathsExactBytesAsTheKernelDoes) {
  testing::assert_jail_is_isolated();
  // builtins.open('/tmp/caf\udce9\udcff', 'w'): a str with the surrogates Python decodes the
  // bytes e9 ff of a file name to (surrogateescape), as os.listdir() would give it.
  fs::path dir = fs::temp_directory_path() / fmt::format("mv-bytes-audit-{}", getpid());
  fs::remove_all(dir);
  fs::create_directories(dir / "traces");
  const std::string model = (dir / "opener.pkl").string();
  std::ofstream(model, std::ios::binary) << "cbuiltins\nopen\n(V/tmp/caf\\udce9\\udcff\nVw\ntR.";
  auto run = testing::run_modelvet("scan --format json --grace-ms 0 --trace-dir '" + (dir / "traces").string() + "' '" + model + "'");
  ASSERT_NE(run.exit_code, -1);
  fs::path trace;
  for (const auto& e : fs::directory_iterator(dir / "traces")) trace = e.path();
  ASSERT_FALSE(trace.empty()) << "no trace written: " << run.out;
  const std::string expected = "/tmp/caf\\xe9\\xff";
  bool audit_seen = false, kernel_seen = false;
  for (const auto& l : file_lines(trace)) {
    auto j = nlohmann::json::parse(l, nullptr, false);
    if (j.is_discarded() || !j.contains("kind")) continue;
    if (j.value("source", "") == "python" && j.value("kind", "") == "audit" && j.value("event", "") == "open" &&
        j.value("path", "").find("caf") != std::string::npos) {
      EXPECT_EQ(j.value("path", ""), expected) << l;
      audit_seen = true;
    }
    if (j.value("source", "") == "kernel" && j.value("kind", "") == "open" && j.value("path", "").find("caf") != std::string::npos) {
      EXPECT_EQ(j.value("path", ""), expected) << l;
      kernel_seen = true;
    }
  }
  EXPECT_TRUE(audit_seen) << "no audit open event of the file";
  EXPECT_TRUE(kernel_seen) << "no kernel open event of the file";
  fs::remove_all(dir);
}

}  // namespace
}  // namespace modelvet
