// End to end, issue #12's GGUF and ONNX samples of the regression corpus (corpus/formats.py):
// each is scanned by the real binary through the real jail and must reach its label. GGUF chat
// templates are rendered with the real jinja2 (CVE-2024-34359 injections are malicious, ordinary
// templates benign); ONNX models are loaded with the real onnx (external data escaping the model
// directory, custom-op libraries), and an external-data file beside a model is shown to the jail.
// Keras 3 archives run through the Keras emulation (harness/_mv_keras.py).
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>

#include <fmt/core.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/detonation_support.h"

using modelvet::testing::assert_jail_is_isolated;
using modelvet::testing::kBinary;
using modelvet::testing::run_command;

namespace fs = std::filesystem;

namespace {

const std::string kCorpus = std::string(MODELVET_BINARY_DIR) + "/corpus";

struct Scanned {
  std::vector<nlohmann::json> rows;
  std::map<std::string, nlohmann::json> by_file;  // manifest file → result
};

Scanned scan_format(const std::string& format) {
  Scanned s;
  std::string paths;
  for (const auto& row : modelvet::testing::read_manifest(kCorpus))
    if (row.value("format", "") == format) {
      s.rows.push_back(row);
      paths += " " + kCorpus + "/" + row["file"].get<std::string>();
    }
  if (s.rows.empty()) return s;
  auto r = run_command(fmt::format("{} scan --format json --jobs 2 --timeout 60{} 2>/dev/null", kBinary, paths));
  auto doc = nlohmann::json::parse(r.out, nullptr, false);
  if (doc.is_discarded()) return s;
  for (const auto& res : doc["results"])
    s.by_file[fs::relative(res["path"].get<std::string>(), kCorpus).string()] = res;
  return s;
}

std::string findings_text(const nlohmann::json& result) {
  std::string out;
  for (const auto& f : result.value("findings", nlohmann::json::array())) out += f.dump() + "\n";
  return out;
}

void expect_labels(const Scanned& s) {
  for (const auto& row : s.rows) {
    std::string file = row["file"];
    auto it = s.by_file.find(file);
    ASSERT_NE(it, s.by_file.end()) << file << " missing from the scan";
    EXPECT_EQ(it->second.value("verdict", ""), row.value("label", ""))
        << file << " [" << row.value("technique", "") << "]: " << it->second.value("summary", "") << "\n"
        << findings_text(it->second);
  }
}

}  // namespace

TEST(EndToEndNewFormats, GgufChatTemplatesRenderedWithRealJinja2) {
  assert_jail_is_isolated();
  Scanned s = scan_format("gguf");
  ASSERT_GE(s.rows.size(), 6u) << "corpus missing: build the `corpus` target";
  int malicious = 0, benign = 0;
  for (const auto& row : s.rows) malicious += row["label"] == "malicious", benign += row["label"] == "benign";
  EXPECT_GE(malicious, 3);
  EXPECT_GE(benign, 3);
  expect_labels(s);

  // The injection's shell ran in the jail (the exec is the evidence), never on the host.
  const auto& rce = s.by_file["malicious/formats/chat_template_rce.gguf"];
  EXPECT_NE(findings_text(rce).find("/bin/sh"), std::string::npos) << rce.dump(2).substr(0, 4000);
  EXPECT_FALSE(fs::exists("/tmp/mv_marker_gguf-chat-template-rce"));
  // The report says how: real jinja2, emulated llama.cpp load, tensors not loaded; the pre-scan
  // shows the template and flags its constructs.
  std::string text = rce.dump();
  EXPECT_NE(text.find("real jinja2"), std::string::npos) << text.substr(0, 3000);
  EXPECT_NE(text.find("tensors not loaded"), std::string::npos);
  EXPECT_NE(text.find("__globals__"), std::string::npos);
  EXPECT_EQ(rce.value("format", ""), "gguf");
  const auto& chatml = s.by_file["benign/formats/chatml.gguf"];
  EXPECT_EQ(chatml["static"].value("loader", ""), "gguf");
  EXPECT_NE(chatml.value("loader", "").find("llama.cpp load emulated"), std::string::npos) << chatml.value("loader", "");
  EXPECT_EQ(chatml["load"].value("status", ""), "ok") << chatml.dump(2).substr(0, 4000);
}

TEST(EndToEndNewFormats, OnnxExternalDataAndCustomOpsWithRealOnnx) {
  assert_jail_is_isolated();
  Scanned s = scan_format("onnx");
  ASSERT_GE(s.rows.size(), 5u) << "corpus missing: build the `corpus` target";
  expect_labels(s);

  const auto& escape = s.by_file["malicious/formats/traversal.onnx"];
  EXPECT_NE(findings_text(escape).find("onnx.external_data_escape"), std::string::npos) << findings_text(escape);
  const auto& custom = s.by_file["malicious/formats/custom_op.onnx"];
  EXPECT_NE(findings_text(custom).find("native.ctypes"), std::string::npos) << findings_text(custom);
  EXPECT_NE(custom.dump().find("emulated"), std::string::npos);
  // The external data beside the model was shown to the jail, so the real load succeeded.
  const auto& sibling = s.by_file["benign/formats/linear_external.onnx"];
  EXPECT_EQ(sibling["load"].value("status", ""), "ok") << sibling.dump(2).substr(0, 4000);
  EXPECT_NE(sibling.dump().find("sibling files beside it shown to the jail"), std::string::npos);
}

// Keras 3 .keras archives (zip of config.json, metadata.json, model.weights.h5), emulated since
// Keras is not packaged: a __lambda__ Lambda, a module function handed a literal node argument
// (CVE-2025-1550) and keras.utils.get_file writing into the decoy home (CVE-2025-8747) are
// malicious; a plain Dense model and an arithmetic Lambda are benign.
TEST(EndToEndNewFormats, Keras3ArchivesEmulatedWithTheirSafeModeBypasses) {
  assert_jail_is_isolated();
  Scanned s = scan_format("keras-v3");
  ASSERT_GE(s.rows.size(), 5u) << "corpus missing: build the `corpus` target";
  expect_labels(s);

  const auto& module_function = s.by_file["malicious/formats/module_function.keras"];
  EXPECT_NE(findings_text(module_function).find("/bin/sh"), std::string::npos) << findings_text(module_function);
  EXPECT_NE(module_function.value("loader", "").find("emulated"), std::string::npos) << module_function.value("loader", "");
  const auto& get_file = s.by_file["malicious/formats/get_file.keras"];
  EXPECT_NE(findings_text(get_file).find("persistence.ssh_authorized_keys"), std::string::npos) << findings_text(get_file);
  EXPECT_NE(findings_text(get_file).find("keys.attacker.invalid"), std::string::npos);
  for (const char* benign : {"benign/formats/dense.keras", "benign/formats/lambda_scale.keras"}) {
    const auto& r = s.by_file[benign];
    EXPECT_EQ(r["load"].value("status", ""), "ok") << benign << ": " << r.dump(2).substr(0, 3000);
    EXPECT_EQ(r["static"].value("format", ""), "keras-v3") << benign;
  }
}

// A batch walk verifies the ONNX model and counts its external data file with it (onnx reads it
// as raw tensor bytes), instead of verifying the data file as a model of its own.
TEST(EndToEndNewFormats, BatchWalkCountsOnnxExternalDataWithItsModel) {
  assert_jail_is_isolated();
  std::string dir = std::string(MODELVET_BINARY_DIR) + "/e2e-onnx-walk";
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const char* f : {"linear_external.onnx", "linear_external.onnx.data"})
    fs::copy_file(kCorpus + "/benign/formats/" + f, dir + "/" + f);
  auto r = run_command(fmt::format("{} batch --jobs 1 --summary {}/summary.json {} 2>/dev/null", kBinary, dir, dir));
  std::vector<nlohmann::json> results;
  size_t at = 0;
  while (at < r.out.size()) {
    size_t nl = r.out.find('\n', at);
    std::string line = r.out.substr(at, nl == std::string::npos ? std::string::npos : nl - at);
    if (!line.empty()) results.push_back(nlohmann::json::parse(line, nullptr, false));
    if (nl == std::string::npos) break;
    at = nl + 1;
  }
  ASSERT_EQ(results.size(), 1u) << r.out.substr(0, 3000);
  EXPECT_EQ(results[0].value("verdict", ""), "benign");
  EXPECT_NE(results[0].value("path", "").find("linear_external.onnx"), std::string::npos);
  std::ifstream in(dir + "/summary.json");
  std::string summary((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(summary.find("onnx external data"), std::string::npos) << summary;
  fs::remove_all(dir);
}

// Files as they lie on disk, written by none of us: the model and array test data Debian's own
// python3 packages ship (joblib dumps from 0.8 to 0.11 with their .npy siblings and compressors,
// numpy, scipy and h5py data). A victim's loader reads each, or refuses it before any code of the
// file's choosing ran (Python 2 pickles under Python 3): benign every one, the refusals said so.
TEST(EndToEndNewFormats, DebianShippedDataFilesAreBenign) {
  assert_jail_is_isolated();
  std::vector<std::string> files;
  for (const char* dir : {"/usr/lib/python3/dist-packages/joblib/test/data", "/usr/lib/python3/dist-packages/numpy",
                          "/usr/lib/python3/dist-packages/scipy", "/usr/lib/python3/dist-packages/h5py"}) {
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      const fs::path p = it->path();
      const std::string name = p.filename().string(), ext = p.extension().string();
      if (!it->is_regular_file() || p.string().find("data") == std::string::npos) continue;
      if (ext == ".npy" || ext == ".npz" || ext == ".h5" || ext == ".hdf5" || ext == ".gz" || ext == ".z" || ext == ".bz2" ||
          ext == ".xz" || ext == ".lzma" || ext == ".pickle" || name.find(".pkl") != std::string::npos)
        files.push_back(p.string());
    }
  }
  ASSERT_GE(files.size(), 60u) << "Debian's python3-joblib/numpy/scipy/h5py test data is missing (scripts/setup.sh installs them)";
  const fs::path dir = fs::temp_directory_path() / fmt::format("mv-debian-data-{}", getpid());
  fs::create_directories(dir);
  std::ofstream(dir / "list.txt") << fmt::format("{}\n", fmt::join(files, "\n"));
  auto run = run_command(fmt::format("{} batch --quiet --output {} {} 2>&1", kBinary, (dir / "out.jsonl").string(),
                                     (dir / "list.txt").string()));
  std::ifstream in(dir / "out.jsonl");
  size_t results = 0, refused = 0, siblings_loaded = 0;
  for (std::string line; std::getline(in, line);) {
    auto r = nlohmann::json::parse(line);
    ++results;
    const std::string path = r["path"], summary = r["summary"];
    EXPECT_EQ(r["verdict"], "benign") << path << ": " << summary;
    if (summary.find("the loader refused the file") != std::string::npos) ++refused;
    // A legacy joblib dump whose arrays are *.pkl_NN.npy siblings: loaded with them, in the jail.
    if (path.size() > 4 && path.substr(path.size() - 4) == ".pkl" && fs::exists(path + "_01.npy") &&
        r["load"].value("status", "") == "ok")
      ++siblings_loaded;
  }
  EXPECT_EQ(results, files.size()) << run.out;
  EXPECT_GT(refused, 0u) << "the Python 2 joblib pickles should be refused by joblib itself, and said so";
  EXPECT_GT(siblings_loaded, 0u) << "no legacy multi-file joblib dump loaded with its .npy siblings";
  std::printf("[ measured ] %zu Debian data files: all benign, %zu refused by their own loader\n", results, refused);
  fs::remove_all(dir);
}
