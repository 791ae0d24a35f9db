#include "verifier/hf_cache.h"

#include <algorithm>
#include <regex>

#include <fmt/core.h>

namespace modelvet {
namespace fs = std::filesystem;
namespace {

bool is_repo_dir_name(const std::string& name) { return name.rfind("models--", 0) == 0; }

// "models--org--name" → "org/name" ("models--gpt2" → "gpt2").
std::string repo_id(const std::string& dir_name) {
  std::string rest = dir_name.substr(std::string("models--").size());
  size_t sep = rest.find("--");
  return sep == std::string::npos ? rest : rest.substr(0, sep) + "/" + rest.substr(sep + 2);
}

// The models--* directory `p` is in (or is), or empty.
fs::path enclosing_repo(const fs::path& p) {
  for (fs::path q = p; !q.empty() && q != q.root_path(); q = q.parent_path())
    if (is_repo_dir_name(q.filename().string())) return q;
  return {};
}

bool lies_directly_in(const fs::path& file, const fs::path& dir) {
  fs::path rel = file.lexically_relative(dir);
  return !rel.empty() && rel.begin() != rel.end() && std::next(rel.begin()) == rel.end() && *rel.begin() != ".." &&
         *rel.begin() != ".";
}

void walk_repo(const fs::path& repo, const fs::path& start, std::vector<InputFile>& found, std::vector<std::string>* errors) {
  std::error_code ec;
  const std::string id = repo_id(repo.filename().string());
  const fs::path snapshots = repo / "snapshots";
  fs::path blobs = fs::weakly_canonical(repo / "blobs", ec);
  if (ec) blobs = repo / "blobs";
  fs::path from = start.empty() ? snapshots : start;
  if (!fs::is_directory(from, ec)) return;
  for (auto it = fs::recursive_directory_iterator(from, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    fs::path rel = it->path().lexically_relative(snapshots);  // <rev>/<file…>
    if (rel.empty() || *rel.begin() == "..") continue;
    auto first = rel.begin();
    std::string rev = first->string();
    fs::path in_rev;
    for (auto c = std::next(first); c != rel.end(); ++c) in_rev /= *c;
    if (in_rev.empty()) continue;  // the <rev> directory itself
    InputFile f;
    f.display = fmt::format("hf://{}@{}/{}", id, rev, in_rev.generic_string());
    f.walked = true;
    std::error_code lec;
    if (it->is_symlink(lec)) {
      fs::path target = fs::read_symlink(it->path(), lec);
      fs::path resolved = fs::weakly_canonical(target.is_absolute() ? target : it->path().parent_path() / target, lec);
      if (lec || !lies_directly_in(resolved, blobs)) {
        f.path = it->path().string();
        f.error = fmt::format("symlink points outside {}/blobs/ (to {}): not followed", repo.filename().string(),
                              target.string());
      } else if (!fs::is_regular_file(resolved, lec)) {
        f.path = it->path().string();
        f.error = fmt::format("symlink into blobs/ names no regular file ({}): dangling or not a file", target.string());
      } else {
        // Read through the link (checked above): the loader and the jail see the file's own name
        // (model.pdparams, saved_model.pb break sniffing ties), while the bytes are the blob's.
        f.path = it->path().string();
        f.key = repo.filename().string() + "/blobs/" + resolved.filename().string();
      }
      found.push_back(std::move(f));
    } else if (it->is_regular_file(lec)) {  // a cache written without symlinks (copies)
      f.path = it->path().string();
      found.push_back(std::move(f));
    }
  }
  if (ec) errors->push_back(fmt::format("{}: {}", from.string(), ec.message()));
}

}  // namespace

namespace {
bool holds_repos(const fs::path& dir) {
  std::error_code ec;
  for (auto& entry : fs::directory_iterator(dir, ec))
    if (is_repo_dir_name(entry.path().filename().string()) && entry.is_directory(ec)) return true;
  return false;
}
}  // namespace

bool is_hf_cache(const fs::path& dir) {
  if (!enclosing_repo(fs::absolute(dir)).empty()) return true;
  return holds_repos(dir) || holds_repos(dir / "hub");  // ~/.cache/huggingface names ~/.cache/huggingface/hub
}

void walk_hf_cache(const fs::path& dir, std::vector<InputFile>& out, std::vector<std::string>* errors) {
  std::vector<InputFile> found;
  fs::path abs = fs::absolute(dir).lexically_normal();
  if (abs.filename().empty()) abs = abs.parent_path();
  fs::path repo = enclosing_repo(abs);
  if (repo.empty() && !holds_repos(abs) && holds_repos(abs / "hub")) abs /= "hub";
  if (!repo.empty()) {
    fs::path rel = abs.lexically_relative(repo);
    bool in_snapshots = !rel.empty() && *rel.begin() == "snapshots";
    walk_repo(repo, in_snapshots ? abs : fs::path(), found, errors);
  } else {
    std::error_code ec;
    std::vector<fs::path> repos;
    for (auto& entry : fs::directory_iterator(abs, ec))
      if (is_repo_dir_name(entry.path().filename().string()) && entry.is_directory(ec)) repos.push_back(entry.path());
    std::sort(repos.begin(), repos.end());
    for (const auto& r : repos) walk_repo(r, {}, found, errors);
  }
  std::sort(found.begin(), found.end(), [](const InputFile& a, const InputFile& b) { return a.display < b.display; });
  out.insert(out.end(), std::make_move_iterator(found.begin()), std::make_move_iterator(found.end()));
}

std::string hf_display(const std::string& path) {
  static const std::regex re(R"(models--([^/]+?)--([^/]+)/snapshots/([^/]+)/(.+)$)");
  std::smatch m;
  if (std::regex_search(path, m, re)) return fmt::format("hf://{}/{}@{}/{}", m[1].str(), m[2].str(), m[3].str(), m[4].str());
  return path;
}

}  // namespace modelvet
