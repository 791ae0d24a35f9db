// prescan_file(): container walkers (zip, 7z, tar, legacy torch, npy/npz, H5) and the report.
#include <gtest/gtest.h>

#include <algorithm>

#include "prescan/prescan.h"
#include "tests/test_prescan_support.h"

using namespace std::string_literals;
using modelvet::prescan::prescan_file;
using modelvet::prescan::Report;
using prescan_test::le;
using prescan_test::make_archive;
using prescan_test::make_zip;
using prescan_test::TempDir;

namespace {

const std::string kEvilPickle = "\x80\x02" "cos\nsystem\nX\x02\x00\x00\x00id\x85R."s;
const std::string kBenignPickle = "\x80\x02}q\x00X\x01\x00\x00\x00" "aK\x01s."s;

bool any_contains(const std::vector<std::string>& v, const std::string& needle) {
  return std::any_of(v.begin(), v.end(), [&](const auto& s) { return s.find(needle) != std::string::npos; });
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += x + "\n";
  return s;
}

const modelvet::prescan::GlobalRef* find_global(const Report& r, const std::string& qualified) {
  for (const auto& ps : r.pickles)
    for (const auto& g : ps.globals)
      if (g.qualified() == qualified) return &g;
  return nullptr;
}

std::string npy(const std::string& descr, const std::string& payload) {
  std::string dict = "{'descr': " + descr + ", 'fortran_order': False, 'shape': (1,), }";
  dict.resize(117, ' ');
  dict += '\n';
  return "\x93NUMPY\x01\x00"s + le(dict.size(), 2) + dict + payload;
}

}  // namespace

TEST(PrescanContainers, TorchZipDataPklIsDisassembledAndFlagged) {
  TempDir dir;
  std::string path = dir.write("model.pt", make_zip({{"archive/data.pkl", kEvilPickle}, {"archive/version", "3\n"}}));
  Report r = prescan_file(path);
  EXPECT_EQ(r.sniff.format, "pytorch-zip");
  EXPECT_EQ(r.members, (std::vector<std::string>{"archive/data.pkl", "archive/version"}));
  ASSERT_EQ(r.pickles.size(), 1u);
  EXPECT_EQ(r.pickles[0].member, "archive/data.pkl");
  EXPECT_TRUE(r.pickles[0].complete);
  const auto* g = find_global(r, "os.system");
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->member, "archive/data.pkl");
  EXPECT_TRUE(g->called);
  EXPECT_TRUE(r.anomalies.empty()) << joined(r.anomalies);

  nlohmann::json j = r.to_json();
  ASSERT_EQ(j["flagged"].size(), 1u) << j.dump(2);
  EXPECT_EQ(j["flagged"][0]["global"], "os.system");
  EXPECT_EQ(j["flagged"][0]["severity"], "dangerous");
  EXPECT_EQ(j["flagged"][0]["scanners"], nlohmann::json({"fickling", "modelscan", "picklescan"}));
  EXPECT_EQ(j["format"], "pytorch-zip");
  EXPECT_EQ(j["loader"], "torch");
  EXPECT_EQ(j["pickles"][0]["globals"][0]["member"], "archive/data.pkl");
}

TEST(PrescanContainers, ZipWithBadCrcIsStillScannedAndReported) {
  TempDir dir;
  std::string path = dir.write("model.pt", make_zip({{"archive/data.pkl", kEvilPickle, 0, /*corrupt_crc=*/true}}));
  Report r = prescan_file(path);
  EXPECT_TRUE(any_contains(r.anomalies, "archive/data.pkl: bad CRC")) << joined(r.anomalies);
  EXPECT_TRUE(any_contains(r.anomalies, "libarchive")) << joined(r.anomalies);  // the strict reader refuses it
  EXPECT_NE(find_global(r, "os.system"), nullptr);
}

TEST(PrescanContainers, ZipOddFlagsAndEncryption) {
  TempDir dir;
  std::string path = dir.write("m.zip", make_zip({{"a.pkl", kBenignPickle, 0x0040}, {"b.pkl", kBenignPickle, 0x0001}}));
  Report r = prescan_file(path);
  EXPECT_TRUE(any_contains(r.anomalies, "a.pkl': odd flag bits 0x0040")) << joined(r.anomalies);
  EXPECT_TRUE(any_contains(r.anomalies, "b.pkl': encrypted")) << joined(r.anomalies);
}

TEST(PrescanContainers, PickleFoundByMagicAndNestedArchive) {
  TempDir dir;
  std::string inner = make_zip({{"inner/data.pkl", kEvilPickle}});
  std::string path = dir.write("m.zip", make_zip({{"weights/blob", kEvilPickle}, {"nested.bin", inner}}));
  Report r = prescan_file(path);
  ASSERT_EQ(r.pickles.size(), 2u) << joined(r.anomalies);
  EXPECT_EQ(r.pickles[0].member, "weights/blob");
  EXPECT_EQ(r.pickles[1].member, "nested.bin::inner/data.pkl");
  EXPECT_TRUE(any_contains(r.anomalies, "nested.bin: nested archive")) << joined(r.anomalies);
  EXPECT_TRUE(any_contains(r.members, "nested.bin::inner/data.pkl"));
}

TEST(PrescanContainers, NpyAndNpzObjectArraysCarryPickles) {
  TempDir dir;
  std::string object_npy = npy("'|O'", kEvilPickle);
  Report r = prescan_file(dir.write("a.npy", object_npy));
  EXPECT_EQ(r.sniff.format, "numpy-npy");
  ASSERT_EQ(r.pickles.size(), 1u);
  const auto* g = find_global(r, "os.system");
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->offset, 128u + 2u);  // header is 128 bytes; GLOBAL follows PROTO

  Report plain = prescan_file(dir.write("b.npy", npy("'<f8'", std::string(8, '\0'))));
  EXPECT_TRUE(plain.pickles.empty());

  std::string structured = npy("[('x', '<f8'), ('obj', '|O')]", kEvilPickle);
  Report npz = prescan_file(dir.write("c.npz", make_zip({{"x.npy", structured}, {"y.npy", npy("'<i4'", "abcd")}})));
  EXPECT_EQ(npz.sniff.format, "numpy-npz");
  ASSERT_EQ(npz.pickles.size(), 1u);
  EXPECT_EQ(npz.pickles[0].member, "x.npy");
}

TEST(PrescanContainers, SevenZipMembersExtractedInMemory) {
  TempDir dir;
  std::string inner_torch = make_zip({{"archive/data.pkl", kEvilPickle}});
  std::string path = dir.write("m.7z", make_archive(ARCHIVE_FORMAT_7ZIP, {{"obj.pkl", kEvilPickle}, {"model.pt", inner_torch}, {"readme", "hi"}}));
  Report r = prescan_file(path);
  EXPECT_EQ(r.sniff.format, "7z");
  EXPECT_EQ(r.sniff.loader, "torch");
  EXPECT_EQ(r.members, (std::vector<std::string>{"obj.pkl", "model.pt", "model.pt::archive/data.pkl", "readme"}));
  ASSERT_EQ(r.pickles.size(), 2u) << joined(r.anomalies);
  EXPECT_EQ(r.pickles[0].member, "obj.pkl");
  EXPECT_EQ(r.pickles[1].member, "model.pt::archive/data.pkl");
}

TEST(PrescanContainers, LegacyTorchSequenceOfPickles) {
  std::string magic = "\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19."s;
  std::string version = "\x80\x02M\xe9\x03."s;
  std::string sys_info = "\x80\x02}q\x00X\x0d\x00\x00\x00little_endianq\x01\x88s."s;
  std::string keys = "\x80\x02]q\x00X\x01\x00\x00\x00" "0q\x01a."s;
  std::string file = magic + version + sys_info + kEvilPickle + keys + std::string(64, '\x7f');
  TempDir dir;
  Report r = prescan_file(dir.write("old.pt", file));
  EXPECT_EQ(r.sniff.format, "pytorch-legacy");
  ASSERT_EQ(r.pickles.size(), 5u);
  for (const auto& ps : r.pickles) EXPECT_TRUE(ps.complete);
  const auto* g = find_global(r, "os.system");
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->offset, magic.size() + version.size() + sys_info.size() + 2);
  EXPECT_TRUE(any_contains(r.sniff.notes, "64 bytes of raw storage data"));
}

TEST(PrescanContainers, LegacyTorchTar) {
  TempDir dir;
  std::string tar = make_archive(ARCHIVE_FORMAT_TAR_USTAR, {{"sys_info", kBenignPickle}, {"pickle", kEvilPickle}, {"storages", kBenignPickle}, {"tensors", kBenignPickle}});
  Report r = prescan_file(dir.write("ancient.pt", tar));
  EXPECT_EQ(r.sniff.format, "pytorch-legacy");
  EXPECT_EQ(r.members.size(), 4u);
  const auto* g = find_global(r, "os.system");
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->member, "pickle");
}

TEST(PrescanContainers, PickleWithAppendedZipIsAPolyglot) {
  TempDir dir;
  std::string file = kBenignPickle + make_zip({{"archive/data.pkl", kEvilPickle}});
  Report r = prescan_file(dir.write("poly.pt", file));
  EXPECT_EQ(r.sniff.format, "pickle");
  EXPECT_TRUE(any_contains(r.anomalies, "polyglot")) << joined(r.anomalies);
  const auto* g = find_global(r, "os.system");
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->member, "(appended zip)::archive/data.pkl");
}

TEST(PrescanContainers, KerasH5LambdaLayer) {
  // base64 of "\xe3\x00os\x00system\x00" : stands in for marshalled bytecode naming os.system
  std::string config = R"({"class_name": "Sequential", "config": {"name": "seq", "layers": [)"
                       R"({"class_name": "InputLayer", "config": {"name": "in"}},)"
                       R"({"class_name": "Lambda", "config": {"name": "lambda_1", "function": ["4wBvcwBzeXN0ZW0A", null, null], "function_type": "lambda", "module": "__main__"}},)"
                       R"({"class_name": "Dense", "config": {"name": "dense", "activation": "relu"}}]}})";
  std::string h5 = "\x89HDF\r\n\x1a\n"s + std::string(200, '\0') + "model_config" + std::string(30, '\0') + config + '\0' +
                   std::string(64, '\0');
  TempDir dir;
  Report r = prescan_file(dir.write("m.h5", h5));
  EXPECT_EQ(r.sniff.format, "keras-h5");
  ASSERT_TRUE(r.keras.found);
  EXPECT_EQ(r.keras.layer_classes, (std::vector<std::string>{"Sequential", "InputLayer", "Lambda", "Dense"}));
  ASSERT_EQ(r.keras.lambda_layers.size(), 1u);
  EXPECT_NE(r.keras.lambda_layers[0].find("lambda_1: marshalled bytecode"), std::string::npos);
  EXPECT_NE(r.keras.lambda_layers[0].find("system"), std::string::npos) << r.keras.lambda_layers[0];
  nlohmann::json j = r.to_json();
  ASSERT_EQ(j["flagged"].size(), 1u) << j.dump(2);
  EXPECT_EQ(j["flagged"][0]["global"], "keras.layers.Lambda");
  EXPECT_EQ(j["flagged"][0]["severity"], "suspicious");
}

// Keras 3 names a function by module and name (CVE-2025-1550 configs name os.system this way):
// the pre-scan shows it as the Lambda's function and as a reference.
TEST(PrescanContainers, Keras3ModuleFunctionNamed) {
  std::string config = R"({"module": "keras", "class_name": "Functional", "config": {"name": "f", "layers": [)"
                       R"({"module": "keras.layers", "class_name": "Lambda", "name": "normalize", "config": {"name": "normalize", )"
                       R"("function": {"module": "os", "class_name": "function", "config": "system", "registered_name": "system"}}}]}})";
  TempDir dir;
  Report r = prescan_file(dir.write("m.keras", make_zip({{"metadata.json", "{}"}, {"config.json", config}})));
  EXPECT_EQ(r.sniff.format, "keras-v3");
  ASSERT_EQ(r.keras.lambda_layers.size(), 1u);
  EXPECT_EQ(r.keras.lambda_layers[0], "normalize: module function os.system");
  EXPECT_NE(std::find(r.keras.references.begin(), r.keras.references.end(), "os.system"), r.keras.references.end())
      << nlohmann::json(r.keras.references).dump();
}

TEST(PrescanContainers, DirectoryListsMembers) {
  TempDir dir;
  dir.write("sm/saved_model.pb", "\x08\x01"s);
  dir.write("sm/variables/variables.index", "x");
  Report r = prescan_file(dir.path() + "/sm");
  EXPECT_EQ(r.sniff.format, "savedmodel");
  std::sort(r.members.begin(), r.members.end());
  EXPECT_EQ(r.members, (std::vector<std::string>{"saved_model.pb", "variables/variables.index"}));
}

TEST(PrescanContainers, ScanLimitIsHonoured) {
  TempDir dir;
  std::string big = "\x80\x02X"s + le(100000, 4) + std::string(100000, 'a') + ".";
  Report r = prescan_file(dir.write("big.pkl", big), 1000);
  EXPECT_TRUE(any_contains(r.anomalies, "exceeds the scan limit")) << joined(r.anomalies);
  ASSERT_EQ(r.pickles.size(), 1u);
  EXPECT_FALSE(r.pickles[0].complete);
}

TEST(PrescanContainers, Zip64OffsetsNearTheTopOfUint64DoNotWrap) {
  // Found by the fuzzer: a zip64 end record whose directory offset overflows offset arithmetic.
  std::string z64 = "PK\x06\x06"s + le(44, 8) + le(45, 2) + le(45, 2) + le(0, 4) + le(0, 4) + le(1, 8) + le(1, 8) +
                    le(46, 8) + le(0xFFFFFFFFFFFFFFF0ull, 8);
  std::string file = "PK\x03\x04"s + std::string(26, '\0');
  uint64_t z64_at = file.size();
  file += z64 + "PK\x06\x07"s + le(0, 4) + le(z64_at, 8) + le(1, 4);
  file += "PK\x05\x06"s + le(0, 2) + le(0, 2) + le(0xFFFF, 2) + le(0xFFFF, 2) + le(0xFFFFFFFF, 4) + le(0xFFFFFFFF, 4) + le(0, 2);
  EXPECT_EQ(modelvet::prescan::sniff_bytes(file, "m.pt").format, "zip");
  TempDir dir;
  Report r = prescan_file(dir.write("z64.pt", file));
  EXPECT_TRUE(any_contains(r.anomalies, "central directory entry 0 of 1 missing")) << joined(r.anomalies);
  EXPECT_FALSE(any_contains(r.anomalies, "internal error")) << joined(r.anomalies);
}
