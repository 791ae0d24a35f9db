#include "trace/event.h"
#include "verifier/cli.h"
#include "trace/bytes_text.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <csignal>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "harness/harness.h"
#include "policies/policy.h"
#include "sandbox/fd_passing.h"
#include "sandbox/zygote.h"
#include "verifier/observer.h"
#include "verifier/classify.h"
#include "verifier/doctor.h"
#include "verifier/batch_output.h"
#include "verifier/inputs.h"
#include "verifier/progress.h"
#include "verifier/reclassify.h"
#include "verifier/report.h"
#include "verifier/timeline.h"
#include "verifier/verify.h"
#include "verifier/verdict_cache.h"
#include "verifier/worker_pool.h"
#include "verifier/zygote_pool.h"

namespace modelvet::cli {
namespace fs = std::filesystem;
namespace {

constexpr int kExitUsage = 2;
const std::vector<std::string> kFormats = {"text", "json", "sarif", "html"};
const std::vector<std::string> kLoaders = {"auto", "pickle", "torch", "joblib", "dill", "numpy", "keras-h5", "paddle", "savedmodel", "gguf", "onnx"};

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
  std::string launch;  // zygote|exec; empty: the command's default
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
  cmd->add_option("--launch", f.launch,
                  "how each file's fresh jail starts: zygote (forked from a process that imported the loader's "
                  "libraries once; batch's default as root) or exec (a new interpreter per file; scan's default, and batch's rootless)")
      ->check(CLI::IsMember({"zygote", "exec"}));
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

// scan on SIGINT/SIGTERM: no file is started any more, the running jails are killed (their
// normal teardown then runs: processes, cgroups, staging), and the report is written with the
// results that finished; a file cut short, or never started, is an `error` saying so. Exit
// 128+signal. A second signal exits at once (each jail's reaper then removes what is left).
volatile std::sig_atomic_t g_scan_signal = 0;

extern "C" void on_scan_signal(int sig) {
  if (g_scan_signal != 0) _exit(128 + sig);
  g_scan_signal = sig;
}

// The jails' pid 1s: children of this process's children (the bridges) in another pid namespace.
// Killing one ends its pid namespace; the bridge then exits and the jail's own teardown runs.
void kill_running_jails() {
  struct stat self_ns{};
  if (stat("/proc/self/ns/pid", &self_ns) != 0) return;
  std::map<pid_t, pid_t> parent;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    // Plain syscalls: a process that exits while it is read gives "", never an exception.
    std::string stat_line;
    if (FILE* in = std::fopen((entry.path() / "stat").c_str(), "re")) {
      char buf[1024];
      stat_line.assign(buf, std::fread(buf, 1, sizeof buf, in));
      std::fclose(in);
    }
    size_t close = stat_line.rfind(')');
    if (close == std::string::npos) continue;
    char state = 0;
    int ppid = 0;
    if (std::sscanf(stat_line.c_str() + close + 1, " %c %d", &state, &ppid) == 2) parent[std::atoi(name.c_str())] = ppid;
  }
  const pid_t me = getpid();
  // A jail's init is our grandchild (our bridge's child), or a zygote's great-grandchild.
  auto descends_from_me = [&](pid_t pid) {
    for (int depth = 0; depth < 4; ++depth) {
      auto up = parent.find(pid);
      if (up == parent.end()) return false;
      if (up->second == me) return depth > 0;
      pid = up->second;
    }
    return false;
  };
  for (const auto& [pid, ppid] : parent) {
    if (!descends_from_me(pid)) continue;
    struct stat ns{};
    if (stat(fmt::format("/proc/{}/ns/pid", pid).c_str(), &ns) == 0 && ns.st_ino != self_ns.st_ino) kill(pid, SIGKILL);
  }
}

const char* scan_signal_name(int sig) { return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "a signal"; }

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
  ZygotePool zygotes;
  if (f.launch == "zygote") base.zygotes = &zygotes;

  g_scan_signal = 0;
  struct sigaction sa{};
  sa.sa_handler = on_scan_signal;
  sigemptyset(&sa.sa_mask);
  struct sigaction old_int{}, old_term{};
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  std::atomic<bool> stop{false}, finished{false};
  std::thread watcher([&] {
    while (!finished.load()) {
      if (g_scan_signal != 0) {
        stop = true;
        try {
          kill_running_jails();  // every tick: a jail that was still being set up is caught too
        } catch (...) {
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(g_scan_signal ? 20 : 50));
    }
  });

  std::vector<nlohmann::json> results(files.size());
  std::atomic<size_t> done{0};
  run_on_workers(files.size(), f.jobs, [&](size_t i, int slot) {
    VerifyOptions opt = base;
    opt.display_path = files[i].display;
    nlohmann::json sample = {{"path", escape_bytes(files[i].display)}, {"sha256", ""}, {"size", 0}};
    try {
      results[i] = verifier.verify(files[i].path, opt, slot);
    } catch (const std::exception& e) {
      results[i] = error_result(sample, fmt::format("internal error: {}", e.what()));
    }
    if (g_scan_signal != 0)  // cut short, or finished while the jails were being killed: no verdict
      results[i] = error_result(sample, fmt::format("interrupted by {} while it was verified", scan_signal_name(g_scan_signal)));
    if (f.verbose) fmt::print(stderr, "[{}/{}] {}: {}\n", ++done, files.size(), files[i].display, str_field(results[i], "verdict", "?"));
  }, &stop);
  finished = true;
  watcher.join();
  const int sig = g_scan_signal;
  size_t verified = 0;
  for (size_t i = 0; i < files.size(); ++i) {
    if (results[i].is_null())
      results[i] = error_result({{"path", escape_bytes(files[i].display)}, {"sha256", ""}, {"size", 0}},
                                fmt::format("not verified: the scan was interrupted by {}", scan_signal_name(sig)));
    else if (str_field(results[i], "error").find("interrupted by") == std::string::npos)
      ++verified;
  }

  std::string format = f.format.empty() ? (stdout_is_tty() && f.output.empty() ? "text" : "json") : f.format;
  nlohmann::json doc = make_document({host_info(tracer.get()), pol->name, pol->sha256}, results);
  bool written = emit(render(doc, format, stdout_is_tty() && f.output.empty()), f.output);
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  if (sig != 0) {
    if (!f.quiet) fmt::print(stderr, "modelvet: interrupted by {}: {} of {} files verified\n", scan_signal_name(sig), verified, files.size());
    return 128 + sig;
  }
  if (!written) return kExitUsage;
  return files.empty() ? kExitUsage : exit_code_for(results);
}

// ---- batch ----------------------------------------------------------------------------------

struct BatchFlags {
  bool resume = false;
  std::string shard;
  std::string db;
  std::string summary;    // --summary FILE: the {"summary": …} document
  bool jobs_given = false;
};

// SIGINT/SIGTERM during a batch: no new file is started, running detonations finish and are
// written, then batch exits 128+signal. A second signal has the default action (immediate end).
volatile std::sig_atomic_t g_batch_signal = 0;
std::atomic<bool> g_batch_stop{false};

extern "C" void on_batch_signal(int sig) {
  g_batch_signal = sig;
  g_batch_stop.store(true);
}

struct BatchSignals {
  struct sigaction old_int {}, old_term {};
  BatchSignals() {
    g_batch_signal = 0;
    g_batch_stop.store(false);
    struct sigaction sa {};
    sa.sa_handler = on_batch_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND | SA_RESTART;  // the second signal ends the process at once
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
  }
  ~BatchSignals() {
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGTERM, &old_term, nullptr);
  }
};

std::string signal_name(int sig) { return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : fmt::format("signal {}", sig); }

// The {"summary": …} document of --summary, written to FILE.part and renamed into place.
bool write_summary_file(const std::string& file, const nlohmann::json& summary) {
  std::string part = file + ".part";
  {
    std::ofstream out(part, std::ios::trunc);
    out << nlohmann::json{{"summary", summary}}.dump(2) << "\n";
    if (!out.flush()) return false;
  }
  std::error_code ec;
  fs::rename(part, file, ec);
  return !ec;
}

int run_batch(const std::vector<std::string>& inputs, const VerifyFlags& f, const BatchFlags& b) {
  auto pol = load_policy_or_report(f.policy_file);
  if (!pol) return kExitUsage;
  if (b.resume && f.output.empty()) {
    fmt::print(stderr, "modelvet: --resume needs --output FILE (the results to resume from)\n");
    return kExitUsage;
  }
  int shard_k = 0, shard_n = 0;
  if (!b.shard.empty()) {
    std::string error;
    if (!parse_shard(b.shard, &shard_k, &shard_n, &error)) {
      fmt::print(stderr, "modelvet: {}\n", error);
      return kExitUsage;
    }
  }
  std::vector<std::string> errors;
  ExpandStats stats;
  std::vector<InputFile> files = expand_batch_raw(inputs, &errors, &stats);
  for (const auto& e : errors) fmt::print(stderr, "modelvet: {}\n", e);
  if (files.empty()) {
    fmt::print(stderr, "modelvet: the inputs name no file to verify\n");
    return kExitUsage;
  }
  size_t other_shards = 0;
  if (shard_n) {
    size_t before = files.size();
    std::erase_if(files, [&](const InputFile& in) { return !in_shard(in.shard_key(), shard_k, shard_n); });
    other_shards = before - files.size();
  }
  skip_non_models(files, &stats);
  if (files.empty() && !shard_n && stats.non_model > 0) {
    fmt::print(stderr, "modelvet: the inputs hold no model file ({} non-model files skipped)\n", stats.non_model);
    return kExitUsage;
  }

  BatchSummary summary;
  size_t resumed = 0;
  if (b.resume) {
    ResumeState st = resume_output(f.output);
    for (const auto& w : st.warnings) fmt::print(stderr, "modelvet: {}\n", w);
    if (st.dropped_torn_line && !f.quiet) fmt::print(stderr, "modelvet: {}: dropped a torn last line\n", f.output);
    for (const auto& r : st.results) summary.add(r);
    size_t before = files.size();
    std::erase_if(files, [&](const InputFile& in) { return st.has(in.display); });
    resumed = before - files.size();
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
  int out_fd = STDOUT_FILENO;
  if (!f.output.empty()) {
    out_fd = ::open(f.output.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (out_fd < 0) {
      fmt::print(stderr, "modelvet: cannot write {}\n", f.output);
      return kExitUsage;
    }
  }
  // Identical content (Hub revisions sharing a blob, copies) is detonated once for all its names.
  std::vector<std::vector<size_t>> groups = group_by_content(files);
  size_t duplicates = files.size() - groups.size();

  std::string tracer_error;
  auto tracer = start_observer(f.tracer, &tracer_error, f.quiet);
  Verifier verifier(*pol, tracer.get(), tracer_error);
  VerifyOptions base = options_from(f);
  ZygotePool zygotes;
  // Batch forks its jails from zygotes unless told otherwise; rootless, the zygote cannot hide
  // its binary's host path from the jail (no mount namespace of its own), so exec stays.
  const bool use_zygotes = f.launch == "zygote" || (f.launch.empty() && !sandbox::rootless_jails());
  if (use_zygotes) base.zygotes = &zygotes;
  int jobs = b.jobs_given ? f.jobs : use_zygotes ? default_zygote_jobs() : default_jobs();

  std::mutex mu;
  std::vector<nlohmann::json> verdicts;  // this run's, for the exit code
  std::atomic<size_t> detonations{0};
  bool write_failed = false;
  Progress progress(files.size() + summary.files(), !f.quiet && isatty(STDERR_FILENO));
  BatchSignals signals;
  run_on_workers(
      groups.size(), jobs,
      [&](size_t g, int slot) {
        const InputFile& first = files[groups[g].front()];
        VerifyOptions opt = base;
        opt.display_path = first.display;
        nlohmann::json r;
        if (!first.error.empty()) {
          r = error_result({{"path", result_path(first.display)}, {"sha256", ""}, {"size", 0}}, first.error);
        } else {
          if (cache) r = cache->lookup(first.path, opt.display_path, pol->sha256);
          if (r.is_null()) {
            ++detonations;
            r = verifier.verify(first.path, opt, slot);
            if (cache) cache->store(r, pol->sha256);
          }
        }
        // An `error` reached after SIGINT/SIGTERM may be the signal's doing: not written, so
        // --resume verifies the file again.
        bool discard = g_batch_stop.load() && str_field(r, "verdict", "error") == "error";
        std::string lines;
        std::vector<nlohmann::json> named;
        if (!discard) {
          for (size_t idx : groups[g]) {
            const InputFile& in = files[idx];
            nlohmann::json one = result_for_name(r, in.display, idx != groups[g].front() ? &first.display : nullptr, in.prior);
            lines += jsonl_line(one);
            named.push_back(std::move(one));
          }
        }
        if (discard) return;
        std::lock_guard<std::mutex> lock(mu);
        // All the group's lines in one write: a kill never leaves a line the next --resume can't read.
        if (!write_all(out_fd, lines)) write_failed = true;
        for (auto& one : named) {
          summary.add(one);
          verdicts.push_back({{"verdict", str_field(one, "verdict", "error")}});
        }
        progress.update(summary);
      },
      &g_batch_stop);
  int sig = g_batch_signal;
  progress.finish();
  if (out_fd != STDOUT_FILENO) ::close(out_fd);

  summary.set_detonated(detonations.load());
  summary.set_skipped("non_model", stats.non_model);
  summary.set_skipped("duplicates", duplicates + stats.duplicate_paths);
  summary.set_skipped("resumed", resumed);
  summary.set_skipped("other_shards", other_shards);
  if (sig) summary.set_interrupted(signal_name(sig));
  nlohmann::json sj = summary.to_json();
  if (!stats.non_model_by_reason.empty()) sj["skipped"]["non_model_by_reason"] = stats.non_model_by_reason;
  if (shard_n) sj["shard"] = fmt::format("{}/{}", shard_k, shard_n);
  if (sig) {
    size_t left = 0;
    for (const auto& grp : groups) left += grp.size();
    sj["unfinished"] = left - verdicts.size();
  }
  if (!f.quiet) fmt::print(stderr, "{}\n", summary.line());
  if (sig)
    fmt::print(stderr, "modelvet: interrupted by {}: {} results written; run again with --resume to finish the rest\n",
               signal_name(sig), verdicts.size());
  if (!b.summary.empty() && !write_summary_file(b.summary, sj)) {
    fmt::print(stderr, "modelvet: cannot write {}\n", b.summary);
    return kExitUsage;
  }
  if (write_failed) {
    fmt::print(stderr, "modelvet: cannot write {}\n", f.output.empty() ? "stdout" : f.output);
    return kExitUsage;
  }
  if (sig) return 128 + sig;
  return exit_code_for(verdicts);
}

int run_replay(const std::string& trace_path, const std::string& policy_file, const std::string& format_flag,
               const std::string& output, bool show) {
  auto pol = load_policy_or_report(policy_file);
  if (!pol) return kExitUsage;
  Trace trace;
  std::string error;
  nlohmann::json result;
  if (read_trace(trace_path, &trace, &error)) {
    result = classify(trace, *pol);
  } else {
    // A trace the verdict cannot be derived from is an error result, never a default benign.
    fmt::print(stderr, "modelvet: {}\n", error);
    result = error_result({{"path", trace_path}}, "unreadable trace: " + error);
  }
  result["trace"] = trace_path;
  nlohmann::json doc = make_document({trace.header.host, pol->name, pol->sha256}, {result});
  std::string format = format_flag.empty() ? (stdout_is_tty() && output.empty() ? "text" : "json") : format_flag;
  std::string text = render(doc, format, stdout_is_tty() && output.empty());
  if (show && error.empty()) text = render_timeline(trace, result) + "\n" + text;
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

// The harness's flags: `modelvet __harness …` exec'd in a jail, or the same argv handed to a
// harness forked from a zygote.
void add_harness_options(CLI::App* cmd, harness::Options& o, bool& no_exercise) {
  cmd->group("");
  cmd->add_option("--file", o.model_path)->required();
  cmd->add_option("--loader", o.loader)->required();
  cmd->add_option("--format", o.format);
  cmd->add_option("--event-fd", o.event_fd);
  cmd->add_option("--grace-ms", o.grace_ms);
  cmd->add_flag("--no-exercise", no_exercise);
}

int run_forked_harness(const std::vector<std::string>& argv, const std::vector<std::string>& envp) {
  CLI::App app;
  harness::Options o;
  bool no_exercise = false;
  add_harness_options(app.add_subcommand("__harness", ""), o, no_exercise);
  std::vector<const char*> args;
  for (const auto& a : argv) args.push_back(a.c_str());
  try {
    app.parse(int(args.size()), args.data());
  } catch (const CLI::ParseError&) {
    return harness::kExitHarnessFailure;
  }
  o.exercise = !no_exercise;
  return harness::run_forked(o, envp);
}

// `modelvet __zygote --loader L`, started by the supervisor with its control socket on fd 3.
int run_zygote(const std::string& loader) {
  constexpr int kControlFd = 3;
  std::string error;
  if (!harness::prepare_zygote(loader, &error)) {
    sandbox::send_fds(kControlFd, {}, "error: " + error);
    return 1;
  }
  sandbox::serve_zygote(kControlFd, run_forked_harness);
}

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
  batch->add_option("--summary", batch_extra.summary, "write the {\"summary\": ...} document (counts, reclassification) to FILE");

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
  bool no_exercise = false;
  add_harness_options(harness_cmd, harness_opts, no_exercise);
  std::string zygote_loader;
  auto* zygote_cmd = app.add_subcommand("__zygote", "");  // started by scan/batch; not for users
  zygote_cmd->group("");
  zygote_cmd->add_option("--loader", zygote_loader)->required();

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
  if (*zygote_cmd) return run_zygote(zygote_loader);
  if (*scan) return run_scan(scan_paths, scan_flags);
  if (*batch) {
    batch_extra.jobs_given = batch->count("--jobs") > 0;
    return run_batch(batch_inputs, batch_flags, batch_extra);
  }
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
    for (const auto& row : cache->known_malicious()) std::cout << row.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return 0;
  }
  return kExitUsage;
}

}  // namespace modelvet::cli
