#include "trace/event.h"
#include "verifier/cli.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <set>
#include <thread>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "harness/harness.h"
#include "policies/policy.h"
#include "verifier/observer.h"
#include "verifier/classify.h"
#include "verifier/doctor.h"
#include "verifier/inputs.h"
#include "verifier/report.h"
#include "verifier/timeline.h"
#include "verifier/verify.h"
#include "verifier/verdict_cache.h"
#include "verifier/worker_pool.h"

namespace modelvet::cli {
namespace fs = std::filesystem;
namespace {

constexpr int kExitUsage = 2;
const std::vector<std::string> kFormats = {"text", "json", "sarif", "html"};
const std::vector<std::string> kLoaders = {"auto", "pickle", "torch", "joblib", "dill", "numpy", "keras-h5", "paddle", "savedmodel"};

struct VerifyFlags {
  std::string format;
  std::string output;
  std::string policy_file;
  int timeout = 30;
  std::string trace_dir;
  std::string loader = "auto";
  int jobs = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  int grace_ms = 1500;
  std::string tracer = "auto";
  bool quiet = false, verbose = false;
};

void add_verify_flags(CLI::App* cmd, VerifyFlags& f) {
  cmd->add_option("--format", f.format, "report format: text|json|sarif|html (default: text on a TTY, else json)")
      ->check(CLI::IsMember(kFormats));
  cmd->add_option("--output,-o", f.output, "write the report to FILE instead of stdout");
  cmd->add_option("--policy", f.policy_file, "policy file (JSON) replacing the built-in default");
  cmd->add_option("--timeout", f.timeout, "wall-clock budget per file in seconds, detonation included")->check(CLI::Range(1, 3600));
  cmd->add_option("--trace-dir", f.trace_dir, "keep each file's full trace (<sha256>.trace.jsonl) here");
  cmd->add_option("--loader", f.loader, "force a loader (default: sniffed from content)")->check(CLI::IsMember(kLoaders));
  cmd->add_option("--jobs,-j", f.jobs, "parallel detonations")->check(CLI::Range(1, 256));
  cmd->add_option("--grace-ms", f.grace_ms, "time after the load for threads, timers and daemons to act")->check(CLI::Range(0, 600000));
  cmd->add_option("--tracer", f.tracer, "auto (eBPF, else the ptrace fallback), ebpf, or ptrace")
      ->check(CLI::IsMember({"auto", "ebpf", "ptrace"}));
  cmd->add_flag("--quiet,-q", f.quiet, "no progress or diagnostics on stderr");
  cmd->add_flag("--verbose,-v", f.verbose, "more diagnostics on stderr");
}

bool stdout_is_tty() { return isatty(STDOUT_FILENO) == 1; }

std::optional<policy::Policy> load_policy_or_report(const std::string& file) {
  if (file.empty()) return policy::default_policy();
  std::vector<policy::LintIssue> issues;
  auto p = policy::load_policy(file, &issues);
  if (!p) {
    fmt::print(stderr, "modelvet: invalid policy {}:\n", file);
    for (const auto& i : issues) fmt::print(stderr, "  {}: {}\n", i.where.empty() ? "/" : i.where, i.message);
  }
  return p;
}

VerifyOptions options_from(const VerifyFlags& f) {
  VerifyOptions o;
  o.loader = f.loader;
  o.timeout_s = f.timeout;
  o.grace_ms = f.grace_ms;
  o.trace_dir = f.trace_dir;
  return o;
}

bool emit(const std::string& text, const std::string& output) {
  if (output.empty()) {
    std::cout << text << std::flush;
    return true;
  }
  std::ofstream out(output, std::ios::trunc);
  out << text;
  if (!out.flush()) {
    fmt::print(stderr, "modelvet: cannot write {}\n", output);
    return false;
  }
  return true;
}

// The process-wide observer; its absence makes every detonation an `error`, never unobserved.
std::unique_ptr<Observer> start_observer(const std::string& choice, std::string* error, bool quiet) {
  auto o = Observer::start(choice, error);
  if (!o && !quiet) fmt::print(stderr, "modelvet: tracer unavailable ({}); files will be reported as error\n", *error);
  if (o && !error->empty() && !quiet) fmt::print(stderr, "modelvet: {}\n", *error);
  return o;
}

int run_scan(const std::vector<std::string>& paths, const VerifyFlags& f) {
  auto pol = load_policy_or_report(f.policy_file);
  if (!pol) return kExitUsage;
  std::vector<std::string> errors;
  std::vector<InputFile> files = expand_paths(paths, &errors);
  for (const auto& e : errors) fmt::print(stderr, "modelvet: {}\n", e);
  std::string tracer_error;
  auto tracer = start_observer(f.tracer, &tracer_error, f.quiet);
  Verifier verifier(*pol, tracer.get(), tracer_error);
  VerifyOptions base = options_from(f);

  std::vector<nlohmann::json> results(files.size());
  std::atomic<size_t> done{0};
  run_on_workers(files.size(), f.jobs, [&](size_t i, int slot) {
    VerifyOptions opt = base;
    opt.display_path = files[i].display;
    results[i] = verifier.verify(files[i].path, opt, slot);
    if (f.verbose) fmt::print(stderr, "[{}/{}] {}: {}\n", ++done, files.size(), files[i].display, str_field(results[i], "verdict", "?"));
  });

  std::string format = f.format.empty() ? (stdout_is_tty() && f.output.empty() ? "text" : "json") : f.format;
  nlohmann::json doc = make_document({host_info(tracer.get()), pol->name, pol->sha256}, results);
  if (!emit(render(doc, format, stdout_is_tty() && f.output.empty()), f.output)) return kExitUsage;
  return files.empty() ? kExitUsage : exit_code_for(results);
}

// batch --resume: the paths already in the output; a torn last line (a killed run) is cut off.
std::set<std::string> already_done(const std::string& output) {
  std::set<std::string> done;
  std::ifstream in(output);
  std::string line, good;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.contains("path")) break;
    done.insert(j["path"].get<std::string>());
    good += line + "\n";
  }
  in.close();
  std::ofstream(output, std::ios::trunc) << good;
  return done;
}

struct BatchFlags {
  bool resume = false;
  std::string shard;
  std::string db;
};

int run_batch(const std::vector<std::string>& inputs, const VerifyFlags& f, const BatchFlags& b) {
  auto pol = load_policy_or_report(f.policy_file);
  if (!pol) return kExitUsage;
  std::vector<std::string> errors;
  std::vector<InputFile> files = expand_batch_inputs(inputs, &errors);
  for (const auto& e : errors) fmt::print(stderr, "modelvet: {}\n", e);
  if (!b.shard.empty()) {
    int k = 0, n = 0;
    std::string error;
    if (!parse_shard(b.shard, &k, &n, &error)) {
      fmt::print(stderr, "modelvet: {}\n", error);
      return kExitUsage;
    }
    std::erase_if(files, [&](const InputFile& in) { return !in_shard(in.display, k, n); });
  }
  if (b.resume && !f.output.empty()) {
    auto done = already_done(f.output);
    std::erase_if(files, [&](const InputFile& in) { return done.count(in.display) > 0; });
  }
  std::unique_ptr<VerdictCache> cache;
  if (!b.db.empty()) {
    std::string error;
    cache = VerdictCache::open(b.db, &error);
    if (!cache) {
      fmt::print(stderr, "modelvet: {}\n", error);
      return kExitUsage;
    }
  }

  std::ofstream file_out;
  if (!f.output.empty()) {
    file_out.open(f.output, std::ios::app);
    if (!file_out) {
      fmt::print(stderr, "modelvet: cannot write {}\n", f.output);
      return kExitUsage;
    }
  }
  std::ostream& out = f.output.empty() ? std::cout : file_out;
  std::string tracer_error;
  auto tracer = start_observer(f.tracer, &tracer_error, f.quiet);
  Verifier verifier(*pol, tracer.get(), tracer_error);
  VerifyOptions base = options_from(f);

  std::mutex mu;
  std::vector<nlohmann::json> results;
  std::map<std::string, int> counts;
  bool progress = !f.quiet && isatty(STDERR_FILENO);
  auto started = std::chrono::steady_clock::now();
  run_on_workers(files.size(), f.jobs, [&](size_t i, int slot) {
    VerifyOptions opt = base;
    opt.display_path = files[i].display;
    nlohmann::json r;
    if (cache) r = cache->lookup(files[i].path, opt.display_path, pol->sha256);
    if (r.is_null()) {
      r = verifier.verify(files[i].path, opt, slot);
      if (cache) cache->store(r, pol->sha256);
    }
    if (!files[i].prior.is_null()) r["prior"] = files[i].prior;
    std::lock_guard<std::mutex> lock(mu);
    // One whole line per write, flushed: a kill never leaves a line the next --resume can't read.
    out << r.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n" << std::flush;
    counts[str_field(r, "verdict", "error")]++;
    results.push_back({{"verdict", str_field(r, "verdict", "error")}});
    if (progress) {
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      double rate = results.size() / std::max(secs, 1e-3);
      fmt::print(stderr, "\r{}/{} files  {:.2f}/s  malicious {} suspicious {} benign {} error {}  ETA {:.0f}s   ",
                 results.size(), files.size(), rate, counts["malicious"], counts["suspicious"], counts["benign"],
                 counts["error"], (files.size() - results.size()) / std::max(rate, 1e-3));
    }
  });
  if (progress) fmt::print(stderr, "\n");
  if (!f.quiet)
    fmt::print(stderr, "{} files: {} malicious, {} suspicious, {} benign, {} error\n", results.size(), counts["malicious"],
               counts["suspicious"], counts["benign"], counts["error"]);
  return exit_code_for(results);
}

int run_replay(const std::string& trace_path, const std::string& policy_file, const std::string& format_flag,
               const std::string& output, bool show) {
  auto pol = load_policy_or_report(policy_file);
  if (!pol) return kExitUsage;
  Trace trace;
  std::string error;
  if (!read_trace(trace_path, &trace, &error)) {
    fmt::print(stderr, "modelvet: {}\n", error);
    return kExitUsage;
  }
  nlohmann::json result = classify(trace, *pol);
  result["trace"] = trace_path;
  nlohmann::json doc = make_document({trace.header.value("host", nlohmann::json::object()), pol->name, pol->sha256}, {result});
  std::string format = format_flag.empty() ? (stdout_is_tty() && output.empty() ? "text" : "json") : format_flag;
  std::string text = render(doc, format, stdout_is_tty() && output.empty());
  if (show) text = render_timeline(trace, result) + "\n" + text;
  if (!emit(text, output)) return kExitUsage;
  return exit_code_for({result});
}

int run_policy_lint(const std::string& file) {
  std::vector<policy::LintIssue> issues;
  auto p = policy::load_policy(file, &issues);
  for (const auto& i : issues) fmt::print("{}: {}: {}\n", file, i.where.empty() ? "/" : i.where, i.message);
  if (!p) return kExitUsage;
  fmt::print("{}: ok (policy '{}', sha256 {})\n", file, p->name, p->sha256);
  return 0;
}

int run_harness(const harness::Options& opt) { return harness::run(opt); }

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"modelvet: detonates flagged ML model files in a traced sandbox and says whether the code they run is malicious"};
  app.set_version_flag("--version", std::string("modelvet ") + MODELVET_VERSION);
  app.require_subcommand(1);

  VerifyFlags scan_flags;
  std::vector<std::string> scan_paths;
  auto* scan = app.add_subcommand("scan", "verify files (directories are walked)");
  scan->add_option("PATH", scan_paths, "files or directories")->required();
  add_verify_flags(scan, scan_flags);

  VerifyFlags batch_flags;
  BatchFlags batch_extra;
  std::vector<std::string> batch_inputs;
  auto* batch = app.add_subcommand("batch", "many files: directories, manifests, HF cache, scanner reports; JSON Lines out");
  batch->add_option("INPUT", batch_inputs, "directories, files, manifests (.jsonl/.txt), HF cache roots, scanner reports")->required();
  add_verify_flags(batch, batch_flags);
  batch->add_flag("--resume", batch_extra.resume, "skip files already in --output");
  batch->add_option("--shard", batch_extra.shard, "verify only slice K/N (no value: from JOB_COMPLETION_INDEX / SLURM_ARRAY_TASK_ID)")
      ->expected(0, 1)->default_str("auto");
  batch->add_option("--db", batch_extra.db, "SQLite verdict cache keyed by (sha256, policy hash, version)");

  std::string replay_trace, replay_policy, replay_format, replay_output;
  bool replay_show = false;
  auto* replay = app.add_subcommand("replay", "re-classify a recorded trace without re-running it");
  replay->add_option("TRACE", replay_trace, "a .trace.jsonl file")->required()->check(CLI::ExistingFile);
  replay->add_option("--policy", replay_policy, "policy file (JSON)");
  replay->add_option("--format", replay_format, "text|json|sarif|html")->check(CLI::IsMember(kFormats));
  replay->add_option("--output,-o", replay_output, "write the report to FILE");
  replay->add_flag("--show", replay_show, "render the timeline (process tree, network, files, calls)");

  std::string doctor_format = "text";
  auto* doctor = app.add_subcommand("doctor", "what this kernel/host allows and the mode that will be used");
  doctor->add_option("--format", doctor_format, "text|json")->check(CLI::IsMember({"text", "json"}));

  std::string lint_file;
  auto* policy_cmd = app.add_subcommand("policy", "policy tools");
  policy_cmd->require_subcommand(1);
  auto* lint = policy_cmd->add_subcommand("lint", "validate a policy file");
  lint->add_option("FILE", lint_file, "policy JSON")->required();

  std::string db_file;
  auto* db = app.add_subcommand("db", "verdict cache tools");
  db->require_subcommand(1);
  auto* db_export = db->add_subcommand("export", "list known-malicious hashes (JSON Lines)");
  db_export->add_option("--db", db_file, "SQLite verdict cache")->required();

  harness::Options harness_opts;
  auto* harness_cmd = app.add_subcommand("__harness", "");  // runs inside the jail; not for users
  harness_cmd->group("");
  harness_cmd->add_option("--file", harness_opts.model_path)->required();
  harness_cmd->add_option("--loader", harness_opts.loader)->required();
  harness_cmd->add_option("--format", harness_opts.format);
  harness_cmd->add_option("--event-fd", harness_opts.event_fd);
  harness_cmd->add_option("--grace-ms", harness_opts.grace_ms);
  bool no_exercise = false;
  harness_cmd->add_flag("--no-exercise", no_exercise);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }

  if (*harness_cmd) {
    harness_opts.exercise = !no_exercise;
    return run_harness(harness_opts);
  }
  if (*scan) return run_scan(scan_paths, scan_flags);
  if (*batch) return run_batch(batch_inputs, batch_flags, batch_extra);
  if (*replay) return run_replay(replay_trace, replay_policy, replay_format, replay_output, replay_show);
  if (*doctor) {
    nlohmann::json r = run_doctor();
    std::cout << (doctor_format == "json" ? r.dump(2) + "\n" : render_doctor_text(r));
    return r.value("ready", false) ? 0 : kExitUsage;
  }
  if (*lint) return run_policy_lint(lint_file);
  if (*db_export) {
    std::string error;
    auto cache = VerdictCache::open(db_file, &error);
    if (!cache) {
      fmt::print(stderr, "modelvet: {}\n", error);
      return kExitUsage;
    }
    for (const auto& row : cache->known_malicious()) std::cout << row.dump() << "\n";
    return 0;
  }
  return kExitUsage;
}

}  // namespace modelvet::cli
