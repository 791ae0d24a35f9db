// Batch inputs: the Hugging Face cache as the Hub writes it (snapshot symlinks into blobs/),
// non-model files skipped by content, de-duplication by path and by content, picklescan output.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "verifier/hf_cache.h"
#include "verifier/inputs.h"

using namespace modelvet;
namespace fs = std::filesystem;

namespace {

struct HfTempDir {
  fs::path path;
  HfTempDir() {
    char tmpl[] = "/tmp/mv-inputs-hf-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~HfTempDir() { fs::remove_all(path); }
  fs::path write(const std::string& rel, const std::string& content) {
    fs::path p = path / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }
  void link(const std::string& rel, const std::string& target) {
    fs::path p = path / rel;
    fs::create_directories(p.parent_path());
    fs::create_symlink(target, p);
  }
};

// A benign protocol-2 pickle of a small dict: sniffed as a pickle by content.
std::string benign_pickle(const std::string& tag) {
  return std::string("\x80\x02}X", 4) + char(tag.size()) + std::string(3, '\0') + tag + "K\x01s.";
}

const std::string kConfig = "{\"architectures\": [\"BertModel\"], \"hidden_size\": 768}\n";
const std::string kTokenizer = "{\"version\": \"1.0\", \"model\": {\"vocab\": {\"[PAD]\": 0, \"\xc3\xa9t\xc3\xa9\": 1}}}\n";

// models--acme--bert with two revisions sharing the weights blob, configs, a tokenizer, a
// pickle named .json, a link escaping the cache, one into another repository's blobs/, one
// dangling, and a nested file; models--other--x beside it.
void build_cache(HfTempDir& d) {
  const std::string r = "hub/models--acme--bert/";
  d.write(r + "blobs/aaa111", benign_pickle("weights"));
  d.write(r + "blobs/bbb222", kConfig);
  d.write(r + "blobs/ccc333", benign_pickle("named-json"));
  d.write(r + "blobs/ddd444", kTokenizer);
  d.write(r + "blobs/eee555", benign_pickle("nested"));
  d.write(r + "blobs/fff666", "# Model card\n\nA BERT.\n");
  d.write(r + "refs/main", "rev2");
  d.link(r + "snapshots/rev1/pytorch_model.bin", "../../blobs/aaa111");
  d.link(r + "snapshots/rev1/config.json", "../../blobs/bbb222");
  d.link(r + "snapshots/rev2/pytorch_model.bin", "../../blobs/aaa111");
  d.link(r + "snapshots/rev2/config.json", "../../blobs/bbb222");
  d.link(r + "snapshots/rev2/evil.json", "../../blobs/ccc333");
  d.link(r + "snapshots/rev2/tokenizer.json", "../../blobs/ddd444");
  d.link(r + "snapshots/rev2/README.md", "../../blobs/fff666");
  d.link(r + "snapshots/rev2/sub/dir/weights.pkl", "../../../../blobs/eee555");
  d.write("outside.pkl", benign_pickle("outside"));
  d.link(r + "snapshots/rev2/escape.bin", "../../../../outside.pkl");
  d.link(r + "snapshots/rev2/absolute.bin", (d.path / "outside.pkl").string());
  d.write("hub/models--other--x/blobs/ggg777", benign_pickle("other"));
  d.link("hub/models--other--x/snapshots/r1/model.pkl", "../../blobs/ggg777");
  d.link(r + "snapshots/rev2/borrowed.bin", "../../../models--other--x/blobs/ggg777");
  d.link(r + "snapshots/rev2/dangling.bin", "../../blobs/missing");
}

std::map<std::string, InputFile> by_display(const std::vector<InputFile>& files) {
  std::map<std::string, InputFile> m;
  for (const auto& f : files) m[f.display] = f;
  return m;
}

}  // namespace

TEST(HfCache, SnapshotLinksAreFollowedOnlyIntoTheirOwnBlobs) {
  HfTempDir d;
  build_cache(d);
  std::vector<std::string> errors;
  ExpandStats stats;
  auto files = expand_batch_inputs({(d.path / "hub").string()}, &errors, &stats);
  auto m = by_display(files);
  EXPECT_TRUE(errors.empty()) << errors.front();

  ASSERT_TRUE(m.count("hf://acme/bert@rev1/pytorch_model.bin"));
  ASSERT_TRUE(m.count("hf://acme/bert@rev2/pytorch_model.bin"));
  auto w1 = m["hf://acme/bert@rev1/pytorch_model.bin"], w2 = m["hf://acme/bert@rev2/pytorch_model.bin"];
  EXPECT_TRUE(w1.error.empty()) << w1.error;
  EXPECT_EQ(fs::path(w1.path).filename(), "pytorch_model.bin");  // read through the checked link
  EXPECT_EQ(fs::canonical(w1.path).filename(), "aaa111");          // whose bytes are the blob's
  EXPECT_EQ(fs::canonical(w1.path), fs::canonical(w2.path));
  EXPECT_EQ(w1.shard_key(), "models--acme--bert/blobs/aaa111");
  EXPECT_EQ(w1.shard_key(), w2.shard_key());

  // A pickle named .json is a model; the nested file keeps its sub-path.
  ASSERT_TRUE(m.count("hf://acme/bert@rev2/evil.json"));
  ASSERT_TRUE(m.count("hf://acme/bert@rev2/sub/dir/weights.pkl"));
  EXPECT_TRUE(m["hf://acme/bert@rev2/sub/dir/weights.pkl"].error.empty());

  // Links leaving the repository's blobs/ are reported (error), never read.
  for (const char* name : {"escape.bin", "absolute.bin", "borrowed.bin"}) {
    std::string key = std::string("hf://acme/bert@rev2/") + name;
    ASSERT_TRUE(m.count(key)) << key;
    EXPECT_NE(m[key].error.find("outside models--acme--bert/blobs/"), std::string::npos) << key << ": " << m[key].error;
    EXPECT_NE(fs::path(m[key].path).filename(), "outside.pkl");
  }
  ASSERT_TRUE(m.count("hf://acme/bert@rev2/dangling.bin"));
  EXPECT_FALSE(m["hf://acme/bert@rev2/dangling.bin"].error.empty());
  EXPECT_TRUE(m.count("hf://other/x@r1/model.pkl"));

  // Configs, the tokenizer and the README are skipped and counted, not reported.
  for (const char* name : {"config.json", "tokenizer.json", "README.md"})
    EXPECT_FALSE(m.count(std::string("hf://acme/bert@rev2/") + name)) << name;
  EXPECT_FALSE(m.count("hf://acme/bert@rev1/config.json"));
  EXPECT_EQ(stats.non_model, 4u);  // config.json ×2, tokenizer.json, README.md
  EXPECT_EQ(stats.non_model_by_reason["text"], 4u);
  // Nothing from blobs/ or refs/ directly.
  for (const auto& f : files) EXPECT_EQ(f.display.rfind("hf://", 0), 0u) << f.display;
  EXPECT_EQ(files.size(), 9u);
}

TEST(HfCache, ASharedBlobIsOneContentGroupAndOneShard) {
  HfTempDir d;
  build_cache(d);
  std::vector<std::string> errors;
  auto files = expand_batch_inputs({(d.path / "hub").string()}, &errors);
  auto groups = group_by_content(files);
  size_t w1 = files.size(), w2 = files.size();
  for (size_t i = 0; i < files.size(); ++i) {
    if (files[i].display == "hf://acme/bert@rev1/pytorch_model.bin") w1 = i;
    if (files[i].display == "hf://acme/bert@rev2/pytorch_model.bin") w2 = i;
  }
  ASSERT_LT(w1, files.size());
  ASSERT_LT(w2, files.size());
  int found = 0;
  for (const auto& g : groups) {
    std::set<size_t> s(g.begin(), g.end());
    if (s.count(w1)) {
      EXPECT_TRUE(s.count(w2));
      EXPECT_EQ(g.size(), 2u);
      ++found;
    }
  }
  EXPECT_EQ(found, 1);
  EXPECT_EQ(groups.size(), files.size() - 1);
  for (int n : {2, 3, 4, 7})
    for (int k = 1; k <= n; ++k) EXPECT_EQ(in_shard(files[w1].shard_key(), k, n), in_shard(files[w2].shard_key(), k, n));
}

TEST(HfCache, ARepositoryOrASnapshotCanBeNamedDirectly) {
  HfTempDir d;
  build_cache(d);
  std::vector<std::string> errors;
  auto repo = expand_batch_inputs({(d.path / "hub/models--other--x").string()}, &errors);
  ASSERT_EQ(repo.size(), 1u);
  EXPECT_EQ(repo[0].display, "hf://other/x@r1/model.pkl");
  auto snap = expand_batch_inputs({(d.path / "hub/models--acme--bert/snapshots/rev1").string()}, &errors);
  ASSERT_EQ(snap.size(), 1u);
  EXPECT_EQ(snap[0].display, "hf://acme/bert@rev1/pytorch_model.bin");
  EXPECT_EQ(hf_display("/c/models--a--b/snapshots/r/x/y.bin"), "hf://a/b@r/x/y.bin");
  // ~/.cache/huggingface (the parent of hub/) is a cache root too.
  auto parent = expand_batch_inputs({d.path.string()}, &errors);
  EXPECT_EQ(parent.size(), 9u);
  for (const auto& f : parent) EXPECT_EQ(f.display.rfind("hf://", 0), 0u) << f.display;
}

TEST(BatchInputs, PlainDirectoryWalkSkipsNonModelsByContentAndCountsThem) {
  HfTempDir d;
  d.write("models/a.pkl", benign_pickle("a"));
  d.write("models/weights.json", benign_pickle("json-named"));  // content wins over the name
  d.write("models/config.json", kConfig);
  d.write("models/notes.txt", "hello\n");
  d.write("models/README.md", "# hi\n");
  d.write("models/empty.cfg", "");
  std::string st = std::string("\x20\x00\x00\x00\x00\x00\x00\x00", 8) + "{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}    " + "abcd";
  d.write("models/model.safetensors", st);
  d.write("models/broken.bin", "not really a model");  // claims to be one: kept, reported as error
  std::vector<std::string> errors;
  ExpandStats stats;
  auto files = expand_batch_inputs({(d.path / "models").string()}, &errors, &stats);
  std::set<std::string> names;
  for (const auto& f : files) names.insert(fs::path(f.path).filename());
  EXPECT_EQ(names, (std::set<std::string>{"a.pkl", "weights.json", "broken.bin"}));
  EXPECT_EQ(stats.non_model, 5u);
  EXPECT_EQ(stats.non_model_by_reason["text"], 3u);
  EXPECT_EQ(stats.non_model_by_reason["empty"], 1u);
  EXPECT_EQ(stats.non_model_by_reason["safetensors"], 1u);
  // Named explicitly, a non-model file is verified (reported), not skipped.
  auto explicit_files = expand_batch_inputs({(d.path / "models/notes.txt.missing").string(), (d.path / "models/README.md").string()}, &errors);
  EXPECT_EQ(explicit_files.size(), 2u);
}

TEST(BatchInputs, TheSameFileNamedTwiceIsVerifiedOnce) {
  HfTempDir d;
  auto a = d.write("m/a.pkl", benign_pickle("a"));
  d.write("m/copy-of-a.pkl", benign_pickle("a"));  // same bytes, another path
  d.write("m/b.pkl", benign_pickle("b"));           // same size, other bytes
  auto manifest = d.write("m/list.txt", "a.pkl\nb.pkl\n");
  std::vector<std::string> errors;
  ExpandStats stats;
  // a.pkl by the manifest and by the directory walk; the modelscan report names it twice.
  auto report = d.write("m/modelscan.json", R"({"issues": [
      {"severity": "MEDIUM", "details": {"source": "a.pkl", "module": "builtins", "operator": "getattr"}},
      {"severity": "CRITICAL", "details": {"source": "a.pkl", "module": "posix", "operator": "system"}}]})");
  auto files = expand_batch_inputs({manifest.string(), report.string(), a.string()}, &errors, &stats);
  std::map<std::string, int> count;
  for (const auto& f : files) count[fs::path(f.path).filename()]++;
  EXPECT_EQ(count["a.pkl"], 1);
  EXPECT_EQ(count["b.pkl"], 1);
  EXPECT_EQ(stats.duplicate_paths, 3u);
  for (const auto& f : files)
    if (fs::path(f.path).filename() == "a.pkl") {
      EXPECT_EQ(f.prior["severity"], "CRITICAL");  // the highest severity of its mentions
      EXPECT_EQ(f.prior["mentions"], 2);
      EXPECT_EQ(f.prior["globals"].size(), 2u);
    }
  // By content: a.pkl and its copy are one group; b.pkl (same size) is not.
  auto all = expand_batch_inputs({(d.path / "m").string()}, &errors);
  auto groups = group_by_content(all);
  size_t pairs = 0;
  for (const auto& g : groups)
    if (g.size() == 2) {
      ++pairs;
      std::set<std::string> n{fs::path(all[g[0]].path).filename(), fs::path(all[g[1]].path).filename()};
      EXPECT_EQ(n, (std::set<std::string>{"a.pkl", "copy-of-a.pkl"}));
    }
  EXPECT_EQ(pairs, 1u);
}

TEST(BatchInputs, PicklescanOutputIsAReportWithPriors) {
  HfTempDir d;
  d.write("s/evil.pkl", benign_pickle("e"));
  d.write("s/model.pt", benign_pickle("m"));
  auto report = d.write("s/picklescan.txt",
                        "evil.pkl: dangerous import 'posix system' FOUND\n"
                        "model.pt:archive/data.pkl: dangerous import 'builtins exec' FOUND\n"
                        "----------- SCAN SUMMARY -----------\nScanned files: 3\nInfected files: 2\n"
                        "Dangerous globals: 2\n");
  std::vector<std::string> errors;
  auto files = expand_batch_inputs({report.string()}, &errors);
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0].path, (d.path / "s/evil.pkl").string());
  EXPECT_EQ(files[0].prior["scanner"], "picklescan");
  EXPECT_EQ(files[0].prior["severity"], "dangerous");
  EXPECT_EQ(files[0].prior["globals"][0], "posix.system");
  EXPECT_EQ(files[1].path, (d.path / "s/model.pt").string());  // the member's file
  // A manifest line may carry its own prior.
  auto m = d.write("s/list.jsonl", "{\"path\": \"evil.pkl\", \"prior\": {\"flagged\": false}}\n");
  auto mf = expand_batch_inputs({m.string()}, &errors);
  ASSERT_EQ(mf.size(), 1u);
  EXPECT_EQ(mf[0].prior["flagged"], false);
}
