#include "verifier/inputs.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>

#include <fmt/core.h>

#include "trace/event.h"
#include "verifier/file_info.h"

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

// models--org--name/snapshots/<rev>/<file> → hf://org/name@rev/file
std::string hf_display(const std::string& path) {
  static const std::regex re(R"(models--([^/]+?)--([^/]+)/snapshots/([^/]+)/(.+)$)");
  std::smatch m;
  if (std::regex_search(path, m, re)) return fmt::format("hf://{}/{}@{}/{}", m[1].str(), m[2].str(), m[3].str(), m[4].str());
  return path;
}

bool is_hf_cache_root(const fs::path& dir) {
  std::error_code ec;
  for (auto& entry : fs::directory_iterator(dir, ec))
    if (entry.path().filename().string().rfind("models--", 0) == 0) return true;
  return false;
}

// A report from another scanner or the Hub: which files it names, and what it said of them.
void expand_json_report(const nlohmann::json& doc, const fs::path& base, std::vector<InputFile>& out) {
  auto add = [&](const std::string& p, const nlohmann::json& prior) {
    fs::path path = fs::path(p).is_absolute() ? fs::path(p) : base / p;
    out.push_back({path.string(), hf_display(path.string()), prior});
  };
  if (doc.is_array()) {  // Hub paths-info / tree: [{"path":…, "securityFileStatus": {"status": …}}]
    for (const auto& e : doc) {
      if (!e.is_object() || !e.contains("path")) continue;
      auto status = e.value("securityFileStatus", nlohmann::json::object());
      std::string s = status.is_object() ? str_field(status, "status") : "";
      if (s == "unsafe" || s == "suspicious") add(e["path"].get<std::string>(), status);
    }
    return;
  }
  if (doc.contains("issues") && doc["issues"].is_array()) {  // modelscan: {"issues":[{"source":…}]}
    for (const auto& i : doc["issues"]) {
      std::string src = str_field(i, "source");
      if (src.empty() && i.contains("details")) src = str_field(i["details"], "source");
      if (!src.empty()) add(src.substr(0, src.find(':')), nlohmann::json{{"scanner", "modelscan"}, {"severity", str_field(i, "severity")}});
    }
    return;
  }
  if (doc.contains("results") && doc["results"].is_array()) {  // a modelvet / picklescan-style list of paths
    for (const auto& r : doc["results"])
      if (r.contains("path")) add(r["path"].get<std::string>(), nullptr);
  }
}

std::vector<InputFile> expand_manifest(const fs::path& manifest, std::vector<std::string>* errors) {
  std::vector<InputFile> out;
  std::ifstream in(manifest);
  std::string line;
  size_t n = 0;
  fs::path base = manifest.parent_path();
  while (std::getline(in, line)) {
    ++n;
    if (line.empty() || line[0] == '#') continue;
    std::string path = line;
    if (line[0] == '{') {
      nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded() || !(j.contains("path") || j.contains("file"))) {
        errors->push_back(fmt::format("{}:{}: no \"path\"", manifest.string(), n));
        continue;
      }
      path = j.contains("path") ? j["path"].get<std::string>() : j["file"].get<std::string>();
    }
    fs::path p = fs::path(path).is_absolute() ? fs::path(path) : base / path;
    out.push_back({p.string(), hf_display(p.string()), nullptr});
  }
  return out;
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

std::vector<InputFile> expand_batch_inputs(const std::vector<std::string>& inputs, std::vector<std::string>* errors) {
  std::vector<InputFile> out;
  for (const auto& input : inputs) {
    fs::path p(input);
    std::error_code ec;
    std::string ext = p.extension().string();
    if (fs::is_directory(p, ec)) {
      std::vector<std::string> files;
      walk(p, files, errors);
      bool hf = is_hf_cache_root(p) || input.find("models--") != std::string::npos;
      for (auto& f : files) {
        // The Hub cache keeps blobs/ and refs/ beside snapshots/: only snapshot files are models.
        if (hf && f.find("/snapshots/") == std::string::npos) continue;
        out.push_back({f, hf ? hf_display(f) : f, nullptr});
      }
    } else if (ext == ".jsonl" || ext == ".txt") {
      auto m = expand_manifest(p, errors);
      out.insert(out.end(), m.begin(), m.end());
    } else if (ext == ".json") {
      std::ifstream in(p);
      nlohmann::json doc = nlohmann::json::parse(in, nullptr, false);
      if (doc.is_discarded()) errors->push_back(fmt::format("{}: not JSON", input));
      else expand_json_report(doc, p.parent_path(), out);
    } else {
      out.push_back({input, hf_display(input), nullptr});
    }
  }
  return out;
}

bool parse_shard(const std::string& spec, int* k, int* n, std::string* error) {
  std::string s = spec;
  if (s == "auto") {
    const char* idx = std::getenv("JOB_COMPLETION_INDEX");
    const char* count = std::getenv("MODELVET_SHARDS");
    if (!idx) idx = std::getenv("SLURM_ARRAY_TASK_ID"), count = count ? count : std::getenv("SLURM_ARRAY_TASK_COUNT");
    if (!count) count = std::getenv("JOB_COMPLETIONS");
    if (!idx || !count) {
      *error = "--shard without K/N needs JOB_COMPLETION_INDEX (+JOB_COMPLETIONS or MODELVET_SHARDS) or SLURM_ARRAY_TASK_ID (+SLURM_ARRAY_TASK_COUNT)";
      return false;
    }
    s = fmt::format("{}/{}", std::atoi(idx) + 1, count);  // both schedulers count from 0
  }
  if (std::sscanf(s.c_str(), "%d/%d", k, n) != 2 || *n < 1 || *k < 1 || *k > *n) {
    *error = fmt::format("bad --shard '{}': expected K/N with 1 <= K <= N", spec);
    return false;
  }
  return true;
}

bool in_shard(const std::string& path, int k, int n) {
  std::string h = sha256_hex(path);
  uint64_t v = std::stoull(h.substr(0, 15), nullptr, 16);
  return int(v % n) == k - 1;
}

}  // namespace modelvet
