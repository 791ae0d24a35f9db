// Issue #12's formats in the pre-scan: archives around models (compressed tars, NeMo, nested
// zips, traversal members), safetensors header validation, HDF5 data files.
#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>

#include "prescan/prescan.h"
#include "tests/test_prescan_support.h"

using namespace std::string_literals;
using modelvet::prescan::prescan_file;
using modelvet::prescan::Report;
using modelvet::prescan::sniff_bytes;
using modelvet::prescan::sniff_file;
using modelvet::prescan::Sniff;
using prescan_test::le;
using prescan_test::make_archive;
using prescan_test::make_zip;
using prescan_test::TempDir;

namespace {

const std::string kEvilPickle = "\x80\x02" "cposix\nsystem\nX\x02\x00\x00\x00id\x85R."s;

bool any_has(const std::vector<std::string>& v, const std::string& needle) {
  return std::any_of(v.begin(), v.end(), [&](const auto& n) { return n.find(needle) != std::string::npos; });
}

std::string gzip(const std::string& data) {
  z_stream s{};
  deflateInit2(&s, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&s, data.size()) + 32, '\0');
  s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  s.avail_in = data.size();
  s.next_out = reinterpret_cast<Bytef*>(out.data());
  s.avail_out = out.size();
  deflate(&s, Z_FINISH);
  out.resize(s.total_out);
  deflateEnd(&s);
  return out;
}

std::string tar(const std::vector<std::pair<std::string, std::string>>& members) {
  return make_archive(ARCHIVE_FORMAT_TAR_USTAR, members);
}

std::string torch_zip(const std::string& pickle) { return make_zip({{"archive/data.pkl", pickle}, {"archive/version", "3\n"}}); }

// safetensors from a header text and data bytes (the header padded with spaces to 8 bytes).
std::string safetensors(std::string header, const std::string& data) {
  header.append((8 - header.size() % 8) % 8, ' ');
  return le(header.size(), 8) + header + data;
}

bool has_global(const Report& r, const std::string& module, const std::string& name) {
  for (const auto& ps : r.pickles)
    for (const auto& g : ps.globals)
      if (g.module == module && g.name == name) return true;
  return false;
}

}  // namespace

TEST(PrescanFormats, CompressedTarIsAnArchiveNotJoblib) {
  // GNU tar names members "./x": '.' is pickle's STOP, so the old sniffer could take the
  // decompressed head for a pickle and hand the file to joblib.
  for (const std::string name : {"./pytorch_model.bin", "model/pytorch_model.bin"}) {
    std::string tgz = gzip(tar({{name, torch_zip(kEvilPickle)}}));
    Sniff s = sniff_bytes(tgz, "checkpoint.tar.gz");
    EXPECT_EQ(s.format, "tar") << name;
    EXPECT_EQ(s.loader, "archive") << name;
    EXPECT_TRUE(any_has(s.notes, "gzip-compressed tar")) << name;
    TempDir dir;
    Report r = prescan_file(dir.write("c.tar.gz", tgz));
    EXPECT_TRUE(has_global(r, "posix", "system")) << name;  // the member's pickle, through gzip, tar and zip
  }
}

TEST(PrescanFormats, CompressedPickleIsStillJoblib) {
  Sniff s = sniff_bytes(gzip(kEvilPickle), "m.joblib");
  EXPECT_EQ(s.format, "joblib");
  EXPECT_EQ(s.loader, "joblib");
}

TEST(PrescanFormats, PlainTarAndNemoUseTheArchiveLoader) {
  Sniff plain = sniff_bytes(tar({{"notes.txt", "hello"}, {"m.pkl", kEvilPickle}}), "bundle.tar");
  EXPECT_EQ(plain.format, "tar");
  EXPECT_EQ(plain.loader, "archive");
  Sniff nemo = sniff_bytes(tar({{"./model_config.yaml", "a: 1\n"}, {"./model_weights.ckpt", torch_zip(kEvilPickle)}}), "asr.nemo");
  EXPECT_EQ(nemo.format, "nemo");
  EXPECT_EQ(nemo.loader, "archive");
  // The weights alone, named .nemo, are NeMo's too; without either sign it is a plain tar.
  EXPECT_EQ(sniff_bytes(tar({{"model_weights.ckpt", torch_zip(kEvilPickle)}}), "x.nemo").format, "nemo");
  EXPECT_EQ(sniff_bytes(tar({{"model_weights.ckpt", torch_zip(kEvilPickle)}}), "x.tar").format, "tar");
}

TEST(PrescanFormats, TraversalMembersAreReported) {
  std::string t = tar({{"model.pt", torch_zip(kEvilPickle)}, {"../../home/alice/.bashrc", "id\n"}, {"/etc/cron.d/x", "x"}});
  Sniff s = sniff_bytes(t, "slip.tar");
  EXPECT_TRUE(any_has(s.notes, "path traversal: member '../../home/alice/.bashrc'"));
  TempDir dir;
  Report r = prescan_file(dir.write("slip.tar", t));
  EXPECT_TRUE(any_has(r.anomalies, "../../home/alice/.bashrc: path traversal"));
  EXPECT_TRUE(any_has(r.anomalies, "/etc/cron.d/x: path traversal"));
  EXPECT_FALSE(any_has(r.anomalies, "model.pt: path traversal"));
  Report z = prescan_file(dir.write("slip.zip", make_zip({{"a/../../evil.pkl", kEvilPickle}, {"a/./b/../ok.txt", "x"}})));
  EXPECT_TRUE(any_has(z.anomalies, "a/../../evil.pkl: path traversal"));
  EXPECT_FALSE(any_has(z.anomalies, "ok.txt: path traversal"));
}

TEST(PrescanFormats, NestedZipsAreWalkedAndUseTheArchiveLoader) {
  std::string inner = make_zip({{"model.pkl", kEvilPickle}});
  std::string outer = make_zip({{"README.md", "# hi\n"}, {"weights/inner.zip", inner}});
  Sniff s = sniff_bytes(outer, "bundle.zip");
  EXPECT_EQ(s.format, "zip");
  EXPECT_EQ(s.loader, "archive");
  TempDir dir;
  Report r = prescan_file(dir.write("bundle.zip", outer));
  EXPECT_TRUE(has_global(r, "posix", "system"));
  EXPECT_TRUE(any_has(r.anomalies, "nested archive"));
  // A tar.gz inside a zip is opened too.
  Report tz = prescan_file(dir.write("tz.zip", make_zip({{"ckpt.tar.gz", gzip(tar({{"m.pkl", kEvilPickle}}))}})));
  EXPECT_TRUE(has_global(tz, "posix", "system"));
}

TEST(PrescanFormats, KerasV3ZipGoesToTheKerasEmulation) {
  Sniff s = sniff_bytes(make_zip({{"metadata.json", "{}"}, {"config.json", R"({"class_name": "Sequential"})"},
                                  {"model.weights.h5", "\x89HDF\r\n\x1a\n"s}}), "m.keras");
  EXPECT_EQ(s.format, "keras-v3");
  EXPECT_EQ(s.loader, "keras-h5");
}

TEST(PrescanFormats, GenuineSafetensorsHasNoCodePath) {
  std::string f = safetensors(R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
                              R"("b":{"dtype":"BF16","shape":[3],"data_offsets":[16,22]},"e":{"dtype":"I64","shape":[0],"data_offsets":[22,22]}})",
                              std::string(22, '\1'));
  Sniff s = sniff_bytes(f, "model.safetensors");
  EXPECT_EQ(s.format, "safetensors");
  EXPECT_EQ(s.loader, "");
  EXPECT_EQ(s.no_code_path, "safetensors: header valid, no code path");
  EXPECT_TRUE(any_has(s.notes, "3 tensors, 1 metadata entries"));
  TempDir dir;
  EXPECT_EQ(sniff_file(dir.write("model.safetensors", f)).no_code_path, "safetensors: header valid, no code path");
}

TEST(PrescanFormats, InconsistentSafetensorsIsNotVouchedFor) {
  const std::string data(16, '\0');
  struct Case {
    const char* what;
    std::string header;
    std::string expect;
  };
  std::vector<Case> cases = {
      {"offsets past the data", R"({"a":{"dtype":"F32","shape":[8],"data_offsets":[0,32]}})", "outside"},
      {"size disagrees with shape", R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}})", "bytes of data"},
      {"overlap", R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", "overlaps"},
      {"gap", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", "belong to no tensor"},
      {"trailing bytes", R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", "after the last tensor"},
      {"unknown dtype", R"({"a":{"dtype":"PYOBJ","shape":[4],"data_offsets":[0,16]}})", "unknown dtype"},
      {"non-string metadata", R"({"__metadata__":{"x":{"y":1}},"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", "not a string"},
      {"negative dimension", R"({"a":{"dtype":"F32","shape":[-4],"data_offsets":[0,16]}})", "non-integer"},
      {"shape overflow", R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,16]}})", "overflows"},
      {"extra key", R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16],"code":"x"}})", "unknown key"},
      {"deep nesting", R"({"a":{"dtype":"F32","shape":[[[[[4]]]]],"data_offsets":[0,16]}})", "nested deeper"},
      {"not json", R"({"a":)", "not a JSON object"},
  };
  for (const auto& c : cases) {
    Sniff s = sniff_bytes(safetensors(c.header, data), "m.safetensors");
    EXPECT_EQ(s.format, "safetensors") << c.what;
    EXPECT_TRUE(s.no_code_path.empty()) << c.what;
    EXPECT_TRUE(any_has(s.notes, c.expect)) << c.what << ": " << (s.notes.empty() ? "" : s.notes.front());
  }
  // A header length beyond the file.
  Sniff cut = sniff_bytes(le(4096, 8) + "{\"a\":1}", "m.safetensors");
  EXPECT_TRUE(cut.no_code_path.empty());
  EXPECT_TRUE(any_has(cut.notes, "past the end"));
  // A valid header with a zip end record at the end (a polyglot for zipfile-based loaders).
  std::string eocd = "PK\x05\x06"s + std::string(18, '\0');
  Sniff poly = sniff_bytes(safetensors(R"({"a":{"dtype":"U8","shape":[22],"data_offsets":[0,22]}})", eocd), "m.safetensors");
  EXPECT_TRUE(poly.no_code_path.empty());
  EXPECT_TRUE(any_has(poly.notes, "polyglot"));
}

TEST(PrescanFormats, PickleOrZipNamedSafetensorsIsSniffedByContent) {
  TempDir dir;
  Sniff p = sniff_file(dir.write("model.safetensors", kEvilPickle));
  EXPECT_EQ(p.format, "pickle");
  EXPECT_EQ(p.loader, "pickle");
  EXPECT_TRUE(any_has(p.notes, "named .safetensors but the content is pickle"));
  Sniff z = sniff_file(dir.write("z.safetensors", torch_zip(kEvilPickle)));
  EXPECT_EQ(z.format, "pytorch-zip");
  EXPECT_EQ(z.loader, "torch");
}

TEST(PrescanFormats, Hdf5DataHasNoCodePathButPyTablesIsNotData) {
  std::string sig = "\x89HDF\r\n\x1a\n"s;
  Sniff data = sniff_bytes(sig + std::string(200, '\0') + "features" + std::string(40, '\0'), "data.h5");
  EXPECT_EQ(data.format, "hdf5");
  EXPECT_EQ(data.no_code_path, "data file: no victim's loader runs code from it");
  Sniff tables = sniff_bytes(sig + std::string(200, '\0') + "PYTABLES_FORMAT_VERSION" + std::string(40, '\0'), "df.h5");
  EXPECT_EQ(tables.format, "hdf5");
  EXPECT_TRUE(tables.no_code_path.empty());
  EXPECT_TRUE(any_has(tables.notes, "pandas.read_hdf unpickles"));
  Sniff keras = sniff_bytes(sig + std::string(100, '\0') + "model_config" + std::string(20, '\0') +
                                R"({"class_name": "Sequential", "config": {"layers": []}})" + '\0',
                            "m.h5");
  EXPECT_EQ(keras.format, "keras-h5");
  EXPECT_TRUE(keras.no_code_path.empty());
}
