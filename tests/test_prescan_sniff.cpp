// Format sniffing by content: the extension only breaks ties (pickle vs paddle).
#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>

#include "prescan/prescan.h"
#include "tests/test_prescan_support.h"

using namespace std::string_literals;
using modelvet::prescan::sniff_bytes;
using modelvet::prescan::sniff_file;
using modelvet::prescan::Sniff;
using prescan_test::make_archive;
using prescan_test::make_zip;
using prescan_test::TempDir;

namespace {

const std::string kEvilPickle = "\x80\x02" "cos\nsystem\nX\x02\x00\x00\x00id\x85R."s;

bool has_note(const Sniff& s, const std::string& needle) {
  return std::any_of(s.notes.begin(), s.notes.end(), [&](const auto& n) { return n.find(needle) != std::string::npos; });
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

std::string zlib_compress(const std::string& data) {
  uLongf n = compressBound(data.size());
  std::string out(n, '\0');
  compress(reinterpret_cast<Bytef*>(out.data()), &n, reinterpret_cast<const Bytef*>(data.data()), data.size());
  out.resize(n);
  return out;
}

}  // namespace

TEST(PrescanSniff, EmptyAndUnknown) {
  EXPECT_EQ(sniff_bytes("", "x.pt").format, "empty");
  Sniff s = sniff_bytes("hello world, not a model", "model.pt");
  EXPECT_EQ(s.format, "unknown");
  EXPECT_EQ(s.loader, "");
}

TEST(PrescanSniff, PickleNamedNpyIsPickle) {
  Sniff s = sniff_bytes(kEvilPickle, "weights.npy");
  EXPECT_EQ(s.format, "pickle");
  EXPECT_EQ(s.loader, "pickle");
  EXPECT_TRUE(has_note(s, "named .npy"));
}

TEST(PrescanSniff, Protocol0PickleWithoutMagic) {
  Sniff s = sniff_bytes("cos\nsystem\n(S'echo hi'\ntR."s, "x.bin");
  EXPECT_EQ(s.format, "pickle");
}

TEST(PrescanSniff, PaddleOnlyByExtensionTieBreak) {
  EXPECT_EQ(sniff_bytes(kEvilPickle, "model.pdparams").format, "paddle");
  EXPECT_EQ(sniff_bytes(kEvilPickle, "model.pdparams").loader, "paddle");
  EXPECT_EQ(sniff_bytes(kEvilPickle, "model.pkl").format, "pickle");
}

TEST(PrescanSniff, JoblibAndDillByTheClassesTheyName) {
  std::string joblib = "\x80\x04\x8c\x13joblib.numpy_pickle\x8c\x11NumpyArrayWrapper\x93)\x81."s;
  Sniff j = sniff_bytes(joblib, "m.pkl");
  EXPECT_EQ(j.format, "joblib");
  EXPECT_EQ(j.loader, "joblib");
  Sniff d = sniff_bytes("\x80\x04\x8c\x0a" "dill._dill\x8c\x10_create_function\x93."s, "m.pkl");
  EXPECT_EQ(d.format, "dill");
  EXPECT_EQ(d.loader, "dill");
}

TEST(PrescanSniff, CompressedJoblib) {
  Sniff g = sniff_bytes(gzip(kEvilPickle), "m.joblib");
  EXPECT_EQ(g.format, "joblib");
  EXPECT_TRUE(has_note(g, "gzip")) << g.notes.size();
  Sniff z = sniff_bytes(zlib_compress(kEvilPickle), "m.joblib");
  EXPECT_EQ(z.format, "joblib");
  EXPECT_TRUE(has_note(z, "zlib"));
}

TEST(PrescanSniff, LegacyTorchMagicPickle) {
  std::string magic = "\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.\x80\x02M\xe9\x03."s;
  Sniff s = sniff_bytes(magic, "old.pt");
  EXPECT_EQ(s.format, "pytorch-legacy");
  EXPECT_EQ(s.loader, "torch");
}

TEST(PrescanSniff, TorchZipVsNpzVsTorchscriptVsZip) {
  Sniff torch = sniff_bytes(make_zip({{"archive/data.pkl", kEvilPickle}, {"archive/version", "3\n"}}), "m.bin");
  EXPECT_EQ(torch.format, "pytorch-zip");
  EXPECT_EQ(torch.loader, "torch");
  Sniff npz = sniff_bytes(make_zip({{"a.npy", "\x93NUMPY"}, {"b.npy", "\x93NUMPY"}}), "m.pt");
  EXPECT_EQ(npz.format, "numpy-npz");
  EXPECT_EQ(npz.loader, "numpy");
  Sniff ts = sniff_bytes(make_zip({{"m/data.pkl", kEvilPickle}, {"m/constants.pkl", kEvilPickle},
                                   {"m/code/__torch__.py", "def f(): pass\n"}}), "m.pt");
  EXPECT_EQ(ts.format, "torchscript");
  EXPECT_EQ(ts.loader, "torch");
  Sniff zip = sniff_bytes(make_zip({{"readme.txt", "hi"}}), "m.pt");
  EXPECT_EQ(zip.format, "zip");
  EXPECT_EQ(zip.loader, "archive");  // any other zip: the harness opens each member by content
}

TEST(PrescanSniff, SevenZipWithInnerMembers) {
  std::string inner_torch = make_zip({{"archive/data.pkl", kEvilPickle}});
  Sniff torch = sniff_bytes(make_archive(ARCHIVE_FORMAT_7ZIP, {{"model.pt", inner_torch}}), "m.7z");
  EXPECT_EQ(torch.format, "7z");
  EXPECT_EQ(torch.loader, "torch");
  EXPECT_TRUE(has_note(torch, "model.pt"));
  Sniff pickle = sniff_bytes(make_archive(ARCHIVE_FORMAT_7ZIP, {{"obj.pkl", kEvilPickle}}), "m.7z");
  EXPECT_EQ(pickle.format, "7z");
  EXPECT_EQ(pickle.loader, "pickle");
}

TEST(PrescanSniff, TarPlainAndLegacyTorch) {
  Sniff legacy = sniff_bytes(make_archive(ARCHIVE_FORMAT_TAR_USTAR, {{"sys_info", kEvilPickle}, {"pickle", kEvilPickle},
                                                                      {"storages", kEvilPickle}, {"tensors", kEvilPickle}}), "m.pt");
  EXPECT_EQ(legacy.format, "pytorch-legacy");
  EXPECT_EQ(legacy.loader, "torch");
  Sniff tar = sniff_bytes(make_archive(ARCHIVE_FORMAT_TAR_USTAR, {{"notes.txt", "hello"}}), "m.tar");
  EXPECT_EQ(tar.format, "tar");
}

TEST(PrescanSniff, NpyHeader) {
  std::string dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }";
  dict.resize(117, ' ');
  dict += '\n';
  std::string npy = "\x93NUMPY\x01\x00"s + prescan_test::le(dict.size(), 2) + dict + std::string(16, '\0');
  Sniff s = sniff_bytes(npy, "a.bin");
  EXPECT_EQ(s.format, "numpy-npy");
  EXPECT_EQ(s.loader, "numpy");
  EXPECT_TRUE(has_note(s, "'<f8'"));
  EXPECT_FALSE(has_note(s, "object dtype"));
}

TEST(PrescanSniff, Hdf5WithAndWithoutModelConfig) {
  std::string sig = "\x89HDF\r\n\x1a\n"s;
  std::string keras = sig + std::string(100, '\0') + "model_config" + std::string(20, '\0') +
                      R"({"class_name": "Sequential", "config": {"layers": [{"class_name": "Dense", "config": {}}]}})" + '\0';
  Sniff k = sniff_bytes(keras, "m.bin");
  EXPECT_EQ(k.format, "keras-h5");
  EXPECT_EQ(k.loader, "keras-h5");
  Sniff plain = sniff_bytes(sig + std::string(200, '\0'), "data.h5");
  EXPECT_EQ(plain.format, "hdf5");
  EXPECT_EQ(plain.loader, "");
  Sniff userblock = sniff_bytes(std::string(512, 'u') + keras, "m.h5");
  EXPECT_EQ(userblock.format, "keras-h5");
  EXPECT_TRUE(has_note(userblock, "offset 512"));
}

TEST(PrescanSniff, SavedModelFileAndDirectory) {
  TempDir dir;
  std::string pb = dir.write("sm/saved_model.pb", "\x08\x01\x12\x00"s);
  dir.write("sm/variables/variables.index", "x");
  EXPECT_EQ(sniff_file(dir.path() + "/sm").format, "savedmodel");
  EXPECT_EQ(sniff_file(dir.path() + "/sm").loader, "savedmodel");
  EXPECT_EQ(sniff_file(pb).format, "savedmodel");
  EXPECT_EQ(sniff_file(dir.path()).format, "unknown");
}

TEST(PrescanSniff, FileMatchesBytes) {
  TempDir dir;
  EXPECT_EQ(sniff_file(dir.write("evil.npy", kEvilPickle)).format, "pickle");
  EXPECT_EQ(sniff_file(dir.write("empty.pt", "")).format, "empty");
  EXPECT_EQ(sniff_file(dir.path() + "/missing.pt").format, "unknown");
}
