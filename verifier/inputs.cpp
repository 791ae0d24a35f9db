#include "verifier/inputs.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <unordered_map>

#include <fmt/core.h>

#include "prescan/prescan.h"
#include "trace/event.h"
#include "verifier/file_info.h"
#include "verifier/hf_cache.h"

namespace modelvet {
namespace fs = std::filesystem;
namespace {

bool is_saved_model_dir(const fs::path& dir) {
  std::error_code ec;
  return fs::exists(dir / "saved_model.pb", ec) || fs::exists(dir / "keras_metadata.pb", ec);
}

void walk(const fs::path& dir, std::vector<std::string>& out, std::vector<std::string>* errors) {
  std::error_code ec;
  std::vector<std::string> found;
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_symlink(ec)) continue;
    if (it->is_directory(ec) && is_saved_model_dir(it->path())) {
      found.push_back(it->path().string());  // a SavedModel is one model, loaded as a directory
      it.disable_recursion_pending();
    } else if (it->is_regular_file(ec)) {
      found.push_back(it->path().string());
    }
  }
  if (ec) errors->push_back(fmt::format("{}: {}", dir.string(), ec.message()));
  std::sort(found.begin(), found.end());
  out.insert(out.end(), found.begin(), found.end());
}

int severity_rank(const std::string& s) {
  static const std::map<std::string, int> rank = {{"CRITICAL", 5}, {"HIGH", 4}, {"dangerous", 4}, {"unsafe", 4},
                                                  {"MEDIUM", 3},   {"suspicious", 3}, {"LOW", 2}};
  auto it = rank.find(s);
  return it == rank.end() ? 1 : it->second;
}

// picklescan prints `FILE: dangerous import 'module name' FOUND` per dangerous global (zip and
// 7z members as FILE:member); it has no JSON output.
const std::regex& picklescan_line() {
  static const std::regex re(R"(^(.+): (dangerous|suspicious) import '(\S+) (\S+)' FOUND( \(promoted by --strict\))?\s*$)");
  return re;
}

bool looks_like_picklescan_output(const fs::path& file) {
  std::ifstream in(file);
  std::string line;
  for (int i = 0; i < 200 && std::getline(in, line); ++i)
    if (line.rfind("----------- SCAN SUMMARY", 0) == 0 || std::regex_match(line, picklescan_line())) return true;
  return false;
}

fs::path relative_to(const std::string& p, const fs::path& base) {
  return fs::path(p).is_absolute() ? fs::path(p) : base / p;
}

// A reported location that names a member ("model.pt:archive/data.pkl") → the file holding it:
// the longest prefix before a ':' that exists, else everything before the first ':'.
std::string strip_member(const std::string& src, const fs::path& base) {
  std::error_code ec;
  if (fs::exists(relative_to(src, base), ec)) return src;
  for (size_t colon = src.rfind(':'); colon != std::string::npos && colon > 0; colon = src.rfind(':', colon - 1))
    if (fs::exists(relative_to(src.substr(0, colon), base), ec)) return src.substr(0, colon);
  return src.substr(0, src.find(':'));
}

void expand_picklescan(const fs::path& report, std::vector<InputFile>& out) {
  std::ifstream in(report);
  std::string line;
  fs::path base = report.parent_path();
  std::smatch m;
  while (std::getline(in, line)) {
    if (!std::regex_match(line, m, picklescan_line())) continue;
    std::string file = strip_member(m[1].str(), base);
    fs::path p = relative_to(file, base);
    nlohmann::json prior = {{"scanner", "picklescan"},
                            {"severity", m[2].str()},
                            {"globals", nlohmann::json::array({m[3].str() + "." + m[4].str()})}};
    out.push_back({p.string(), hf_display(p.string()), prior});
  }
}

// A report from another scanner or the Hub: which files it names, and what it said of them.
void expand_json_report(const nlohmann::json& doc, const fs::path& base, std::vector<InputFile>& out) {
  auto add = [&](const std::string& p, const nlohmann::json& prior) {
    fs::path path = relative_to(p, base);
    out.push_back({path.string(), hf_display(path.string()), prior});
  };
  if (doc.is_array()) {  // Hub paths-info / tree: [{"path":…, "securityFileStatus": {"status": …}}]
    for (const auto& e : doc) {
      if (!e.is_object() || !e.contains("path") || !e["path"].is_string()) continue;
      auto status = e.value("securityFileStatus", nlohmann::json::object());
      std::string s = status.is_object() ? str_field(status, "status") : "";
      if (s == "unsafe" || s == "suspicious") add(e["path"].get<std::string>(), status);
    }
    return;
  }
  if (!doc.is_object()) return;
  if (doc.contains("issues") && doc["issues"].is_array()) {  // modelscan: {"issues":[{"source":…}]}
    for (const auto& i : doc["issues"]) {
      if (!i.is_object()) continue;
      std::string src = str_field(i, "source");
      if (src.empty() && i.contains("details") && i["details"].is_object()) src = str_field(i["details"], "source");
      if (src.empty()) continue;
      nlohmann::json prior = {{"scanner", "modelscan"}, {"severity", str_field(i, "severity")}};
      if (i.contains("details") && i["details"].is_object()) {
        std::string g = str_field(i["details"], "module");
        if (!g.empty()) prior["globals"] = nlohmann::json::array({g + "." + str_field(i["details"], "operator")});
      }
      add(strip_member(src, base), prior);
    }
    return;
  }
  if (doc.contains("results") && doc["results"].is_array()) {  // a modelvet report (or any list of paths)
    for (const auto& r : doc["results"])
      if (r.is_object() && r.contains("path") && r["path"].is_string())
        add(r["path"].get<std::string>(), r.contains("prior") ? r["prior"] : nlohmann::json(nullptr));
  }
}

std::vector<InputFile> expand_manifest(const fs::path& manifest, std::vector<std::string>* errors) {
  std::vector<InputFile> out;
  std::ifstream in(manifest);
  if (!in) {
    errors->push_back(fmt::format("{}: cannot read the manifest", manifest.string()));
    return out;
  }
  std::string line;
  size_t n = 0;
  fs::path base = manifest.parent_path();
  while (std::getline(in, line)) {
    ++n;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    std::string path = line;
    nlohmann::json prior;
    if (line[0] == '{') {
      nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
      std::string key = j.is_object() ? (j.contains("path") ? "path" : "file") : "";
      if (key.empty() || !j.contains(key) || !j[key].is_string()) {
        errors->push_back(fmt::format("{}:{}: no \"path\"", manifest.string(), n));
        continue;
      }
      path = j[key].get<std::string>();
      if (j.contains("prior")) prior = j["prior"];
    }
    fs::path p = relative_to(path, base);
    out.push_back({p.string(), hf_display(p.string()), prior});
  }
  return out;
}

bool has_model_extension(const std::string& path) {
  static const std::set<std::string> exts = {".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".joblib", ".dill",
                                             ".npy", ".npz", ".h5", ".hdf5", ".keras", ".pdparams", ".pdopt", ".pb",
                                             ".mar", ".7z", ".zip", ".tar", ".sav", ".model.pt"};
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
  return exts.count(ext) > 0;
}

bool is_text(std::string_view head) {
  if (head.find('\0') != std::string_view::npos) return false;
  size_t bad = 0;
  for (unsigned char c : head)
    if (c < 0x20 && c != '\n' && c != '\r' && c != '\t' && c != '\f') ++bad;
  return bad * 100 <= head.size();  // UTF-8 bytes ≥ 0x80 pass: tokenizers are full of them
}

}  // namespace

std::vector<InputFile> expand_paths(const std::vector<std::string>& paths, std::vector<std::string>* errors) {
  std::vector<InputFile> out;
  for (const auto& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec) && !is_saved_model_dir(p)) {
      std::vector<std::string> files;
      walk(p, files, errors);
      for (auto& f : files) out.push_back({f, f, nullptr});
    } else {
      out.push_back({p, p, nullptr});  // unreadable ones become `error` results, not lost
    }
  }
  return out;
}

namespace {
// A prior comes from a manifest or report anyone may write: "mentions" may be absent, a string,
// negative or huge (value() would throw on a string; a sum of two huge counts would overflow).
int64_t mentions_of(const nlohmann::json& prior) {
  auto it = prior.find("mentions");
  if (it == prior.end() || !it->is_number_integer()) return 1;
  if (it->is_number_unsigned()) return int64_t(std::min<uint64_t>(it->get<uint64_t>(), 1u << 30));
  return std::clamp<int64_t>(it->get<int64_t>(), 1, 1 << 30);
}
}  // namespace

nlohmann::json merge_priors(const nlohmann::json& a, const nlohmann::json& b) {
  if (a.is_null()) return b;
  if (b.is_null() || a == b) return a;
  if (!a.is_object() || !b.is_object()) return a;
  nlohmann::json m = severity_rank(str_field(b, "severity", str_field(b, "status"))) >
                             severity_rank(str_field(a, "severity", str_field(a, "status")))
                         ? b
                         : a;
  std::set<std::string> globals;
  for (const auto* p : {&a, &b})
    if (p->contains("globals") && (*p)["globals"].is_array())
      for (const auto& g : (*p)["globals"])
        if (g.is_string()) globals.insert(g.get<std::string>());
  if (!globals.empty()) m["globals"] = globals;
  m["mentions"] = mentions_of(a) + mentions_of(b);
  return m;
}

std::vector<InputFile> expand_batch_raw(const std::vector<std::string>& inputs, std::vector<std::string>* errors,
                                        ExpandStats* stats) {
  std::vector<InputFile> out;
  for (const auto& input : inputs) {
    fs::path p(input);
    std::error_code ec;
    std::string ext = p.extension().string();
    if (fs::is_directory(p, ec)) {
      if (is_saved_model_dir(p)) {
        out.push_back({input, input, nullptr});
      } else if (is_hf_cache(p)) {
        walk_hf_cache(p, out, errors);
      } else {
        std::vector<std::string> files;
        walk(p, files, errors);
        for (auto& f : files) {
          InputFile in{f, f, nullptr};
          in.walked = true;
          out.push_back(std::move(in));
        }
      }
    } else if (!fs::exists(p, ec)) {
      errors->push_back(fmt::format("{}: no such file or directory", input));
      out.push_back({input, hf_display(input), nullptr});  // reported as an `error` result, not lost
    } else if (ext == ".jsonl" || ext == ".txt" || ext == ".log") {
      if (looks_like_picklescan_output(p)) expand_picklescan(p, out);
      else if (ext != ".log") {
        auto m = expand_manifest(p, errors);
        out.insert(out.end(), m.begin(), m.end());
      } else out.push_back({input, hf_display(input), nullptr});
    } else if (ext == ".json") {
      std::ifstream in(p);
      nlohmann::json doc = nlohmann::json::parse(in, nullptr, false);
      if (doc.is_discarded()) {
        // Not JSON: maybe a pickle named .json; it is a file to verify, not a report.
        errors->push_back(fmt::format("{}: not JSON; verified as a file", input));
        out.push_back({input, hf_display(input), nullptr});
      } else {
        expand_json_report(doc, p.parent_path(), out);
      }
    } else {
      out.push_back({input, hf_display(input), nullptr});
    }
  }
  if (stats) stats->named = out.size();
  // The same reported name twice (two inputs, several modelscan issues): once, priors merged.
  std::unordered_map<std::string, size_t> seen;
  std::vector<InputFile> unique;
  for (auto& f : out) {
    auto [it, fresh] = seen.emplace(f.display, unique.size());
    if (fresh) {
      unique.push_back(std::move(f));
      continue;
    }
    InputFile& first = unique[it->second];
    first.prior = merge_priors(first.prior, f.prior);
    first.walked = first.walked && f.walked;  // named explicitly once: never skipped as non-model
    if (stats) ++stats->duplicate_paths;
  }
  return unique;
}

std::string non_model_reason(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";  // unreadable: reported as an error, not hidden
  std::string head(64 * 1024, '\0');
  in.read(head.data(), std::streamsize(head.size()));
  head.resize(size_t(in.gcount()));
  if (head.empty()) return has_model_extension(path) ? "" : "empty";
  try {
    prescan::Sniff s = prescan::sniff_bytes(head, path);
    // safetensors: a valid header is verified (benign by the pre-scan, no jail, reported); a
    // file that only starts like one is weights no loader opens: skipped and counted.
    if (s.format == "safetensors") return prescan::sniff_file(path).no_code_path.empty() ? "safetensors" : "";
    if (s.format != "unknown" && s.format != "empty") return "";
  } catch (const std::exception&) {
    return "";  // a parser failure on a head is no proof the file is harmless
  }
  if (head.size() >= 9 && head[8] == '{') {  // safetensors: u64 LE header length, then a JSON header
    uint64_t n = 0;
    std::memcpy(&n, head.data(), 8);
    if (n > 1 && n < (100u << 20)) return "safetensors";
  }
  if (has_model_extension(path)) return "";
  return is_text(head) ? "text" : "data";
}

// The external data files of the ONNX models among `files` (locations in the model's own
// directory): onnx.load reads them as raw tensor bytes, never as a model, so a walk counts them
// with their model instead of verifying them as files of their own.
std::set<std::string> onnx_external_data(const std::vector<InputFile>& files) {
  std::set<std::string> out;
  for (const auto& f : files) {
    if (!f.error.empty()) continue;
    std::ifstream in(f.path, std::ios::binary);
    char first = 0;
    if (!in.get(first) || uint8_t(first) != 0x08) continue;  // ModelProto starts with ir_version
    in.close();
    prescan::Report r = prescan::prescan_file(f.path);
    if (!r.onnx.is_onnx) continue;
    for (const auto& e : r.onnx.external) {
      fs::path rel = fs::path(e.location).lexically_normal();
      if (e.escapes || e.location.empty() || rel.has_parent_path()) continue;
      out.insert((fs::path(f.path).parent_path() / rel).lexically_normal().string());
    }
  }
  return out;
}

void skip_non_models(std::vector<InputFile>& files, ExpandStats* stats) {
  std::set<std::string> external = onnx_external_data(files);
  std::erase_if(files, [&](const InputFile& f) {
    if (!f.walked || !f.error.empty()) return false;
    std::string why = external.count(fs::path(f.path).lexically_normal().string()) ? "onnx external data" : non_model_reason(f.path);
    if (why.empty()) return false;
    if (stats) ++stats->non_model, ++stats->non_model_by_reason[why];
    return true;
  });
}

std::vector<InputFile> expand_batch_inputs(const std::vector<std::string>& inputs, std::vector<std::string>* errors,
                                           ExpandStats* stats) {
  ExpandStats local;
  auto files = expand_batch_raw(inputs, errors, stats ? stats : &local);
  skip_non_models(files, stats ? stats : &local);
  return files;
}

std::vector<std::vector<size_t>> group_by_content(const std::vector<InputFile>& files) {
  // Pass 1: the same real file (Hub revisions sharing a blob, a file named by two paths).
  std::vector<std::vector<size_t>> groups;
  std::map<std::pair<dev_t, ino_t>, size_t> by_inode;
  std::vector<int64_t> sizes;
  for (size_t i = 0; i < files.size(); ++i) {
    struct stat st {};
    bool regular = files[i].error.empty() && ::stat(files[i].path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
    if (!regular) {
      groups.push_back({i});
      sizes.push_back(-1);
      continue;
    }
    auto [it, fresh] = by_inode.emplace(std::make_pair(st.st_dev, st.st_ino), groups.size());
    if (fresh) {
      groups.push_back({i});
      sizes.push_back(int64_t(st.st_size));
    } else {
      groups[it->second].push_back(i);
    }
  }
  // Pass 2: different files with the same bytes. Only sizes that collide are hashed.
  std::map<int64_t, std::vector<size_t>> by_size;
  for (size_t g = 0; g < groups.size(); ++g)
    if (sizes[g] > 0) by_size[sizes[g]].push_back(g);
  std::vector<bool> merged(groups.size(), false);
  for (const auto& [size, gs] : by_size) {
    if (gs.size() < 2) continue;
    std::map<std::string, size_t> by_hash;
    for (size_t g : gs) {
      std::string h = inspect_file(files[groups[g].front()].path).sha256;
      if (h.empty()) continue;
      auto [it, fresh] = by_hash.emplace(h, g);
      if (fresh) continue;
      auto& into = groups[it->second];
      into.insert(into.end(), groups[g].begin(), groups[g].end());
      merged[g] = true;
    }
  }
  std::vector<std::vector<size_t>> out;
  for (size_t g = 0; g < groups.size(); ++g)
    if (!merged[g]) {
      std::sort(groups[g].begin(), groups[g].end());
      out.push_back(std::move(groups[g]));
    }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.front() < b.front(); });
  return out;
}

namespace {

bool parse_int(const char* s, long* v) {
  if (!s || !*s) return false;
  char* end = nullptr;
  errno = 0;
  *v = std::strtol(s, &end, 10);
  return errno == 0 && end && *end == '\0';
}

}  // namespace

bool parse_shard(const std::string& spec, int* k, int* n, std::string* error) {
  std::string s = spec;
  if (s == "auto") {
    const char* override_count = std::getenv("MODELVET_SHARDS");
    long idx = 0, min = 0, count = 0;
    std::string source;
    if (const char* job = std::getenv("JOB_COMPLETION_INDEX")) {  // Kubernetes Indexed Job: 0 … completions-1
      const char* c = override_count ? override_count : std::getenv("JOB_COMPLETIONS");
      if (!parse_int(job, &idx) || !c || !parse_int(c, &count)) {
        *error = fmt::format("--shard: JOB_COMPLETION_INDEX='{}' needs JOB_COMPLETIONS (or MODELVET_SHARDS) set to the "
                             "job's completions, got '{}'", job, c ? c : "");
        return false;
      }
      source = fmt::format("JOB_COMPLETION_INDEX={} of {}", idx, count);
    } else if (const char* task = std::getenv("SLURM_ARRAY_TASK_ID")) {  // Slurm: from SLURM_ARRAY_TASK_MIN
      const char* c = override_count ? override_count : std::getenv("SLURM_ARRAY_TASK_COUNT");
      const char* m = std::getenv("SLURM_ARRAY_TASK_MIN");
      if (!parse_int(task, &idx) || !c || !parse_int(c, &count) || (m && !parse_int(m, &min))) {
        *error = fmt::format("--shard: SLURM_ARRAY_TASK_ID='{}' needs SLURM_ARRAY_TASK_COUNT (or MODELVET_SHARDS), got '{}'",
                             task, c ? c : "");
        return false;
      }
      source = fmt::format("SLURM_ARRAY_TASK_ID={} (SLURM_ARRAY_TASK_MIN={}) of SLURM_ARRAY_TASK_COUNT={}", idx, min, count);
      idx -= min;
    } else {
      *error = "--shard without K/N needs JOB_COMPLETION_INDEX (+JOB_COMPLETIONS or MODELVET_SHARDS) or "
               "SLURM_ARRAY_TASK_ID (+SLURM_ARRAY_TASK_COUNT, SLURM_ARRAY_TASK_MIN)";
      return false;
    }
    if (count < 1 || count > 1000000 || idx < 0 || idx >= count) {
      *error = fmt::format("--shard: {} gives slice {} of {}: out of range (a --array with gaps or steps, e.g. 1-8:2, "
                           "is not one slice per task; pass --shard K/N)", source, idx + 1, count);
      return false;
    }
    *k = int(idx) + 1;
    *n = int(count);
    return true;
  }
  char tail = 0;
  if (std::sscanf(s.c_str(), "%d/%d%c", k, n, &tail) != 2 || *n < 1 || *k < 1 || *k > *n) {
    *error = fmt::format("bad --shard '{}': expected K/N with 1 <= K <= N", spec);
    return false;
  }
  return true;
}

bool in_shard(const std::string& key, int k, int n) {
  std::string h = sha256_hex(key);
  uint64_t v = std::stoull(h.substr(0, 15), nullptr, 16);
  return int(v % n) == k - 1;
}

}  // namespace modelvet
