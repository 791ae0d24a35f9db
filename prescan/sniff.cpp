// Format sniffing by content. The extension is consulted only to break a tie between formats
// whose bytes are identical (a Paddle .pdparams is a plain pickle) and to note mismatches.
#include <filesystem>
#include <set>

#include <fmt/format.h>

#include "prescan/internal.h"

namespace modelvet::prescan {
namespace {

constexpr std::string_view kSevenZipMagic{"7z\xBC\xAF\x27\x1C", 6};
constexpr std::string_view kNpyMagic{"\x93NUMPY", 6};
// torch's legacy (non-zip) format starts with a pickled int: 0x1950a86a20f9469cfc6c, as LONG1.
constexpr std::string_view kTorchLegacyMagic{"\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 12};
constexpr uint64_t kSniffDecompressBytes = 4u << 20;

Sniff make(std::string format, std::string loader) {
  Sniff s;
  s.format = std::move(format);
  s.loader = std::move(loader);
  return s;
}

bool is_zip_magic(std::string_view b) { return starts_with(b, "PK\x03\x04") || starts_with(b, "PK\x05\x06"); }

Sniff classify_zip(std::string_view bytes) {
  ZipListing z = read_zip_directory(bytes);
  bool has_data_pkl = false, has_constants = false, has_code = false, all_npy = !z.members.empty();
  bool keras_v3 = false;
  for (const auto& m : z.members) {
    has_data_pkl |= m.name == "data.pkl" || ends_with(m.name, "/data.pkl");
    has_constants |= m.name == "constants.pkl" || ends_with(m.name, "/constants.pkl");
    has_code |= starts_with(m.name, "code/") || m.name.find("/code/") != std::string::npos;
    all_npy &= ends_with(m.name, ".npy");
    keras_v3 |= m.name == "config.json";
  }
  Sniff s;
  if (has_constants && has_code) s = make("torchscript", "torch");
  else if (has_data_pkl) s = make("pytorch-zip", "torch");
  else if (all_npy) s = make("numpy-npz", "numpy");
  else s = make("zip", "");
  if (s.format == "zip" && keras_v3) s.notes.push_back("looks like a Keras v3 archive (config.json)");
  s.notes.push_back(fmt::format("{} zip members", z.members.size()));
  for (const auto& a : z.anomalies) s.notes.push_back("zip: " + a);
  return s;
}

Sniff classify_7z(std::string_view bytes) {
  Sniff s = make("7z", "");
  ArchiveListing l = read_archive(bytes, ArchiveKind::kSevenZip, nullptr, 0, kSniffDecompressBytes);
  bool inner_torch = false, inner_pickle = false;
  std::string names;
  for (const auto& e : l.entries) {
    names += (names.empty() ? "" : ", ") + e.name;
    std::string ext = extension_of(e.name);
    if (is_zip_magic(e.data) || starts_with(e.data, "\x80\x02\x8a\x0a") ||
        ext == ".pt" || ext == ".pth" || ext == ".ckpt" || ext == ".bin")
      inner_torch = true;
    else if (has_pickle_magic(e.data) || ext == ".pkl" || ext == ".pickle")
      inner_pickle = true;
    if (e.encrypted) s.notes.push_back("encrypted member: " + e.name);
  }
  s.notes.push_back("7z members: " + (names.empty() ? std::string("(none listed)") : names));
  for (const auto& e : l.errors) s.notes.push_back("7z: " + e);
  s.loader = inner_torch ? "torch" : inner_pickle ? "pickle" : "";
  return s;
}

Sniff classify_tar(std::string_view bytes) {
  ArchiveListing l = read_archive(bytes, ArchiveKind::kTar, nullptr, 0, kSniffDecompressBytes);
  std::set<std::string> names;
  for (const auto& e : l.entries) names.insert(e.name);
  // torch's oldest format: a tar of sys_info, pickle, storages and tensors.
  Sniff s = names.count("pickle") && (names.count("sys_info") || names.count("storages"))
                ? make("pytorch-legacy", "torch")
                : make("tar", "");
  if (s.format == "pytorch-legacy") s.notes.push_back("legacy torch tar (sys_info, pickle, storages, tensors)");
  s.notes.push_back(fmt::format("{} tar members", l.entries.size()));
  return s;
}

bool names_module(const PickleScan& ps, std::string_view prefix) {
  for (const auto& g : ps.globals)
    if (starts_with(g.module, prefix)) return true;
  return false;
}

// A pickle: plain, legacy torch, joblib, dill, or (by name only) paddle.
Sniff classify_pickle(std::string_view bytes, std::string_view name_hint) {
  if (bytes.size() >= 2 + kTorchLegacyMagic.size() && uint8_t(bytes[0]) == 0x80 &&
      bytes.substr(2, kTorchLegacyMagic.size()) == kTorchLegacyMagic) {
    Sniff s = make("pytorch-legacy", "torch");
    s.notes.push_back("torch legacy magic number pickle");
    return s;
  }
  PickleScan ps = disassemble_pickle(bytes);
  std::string ext = extension_of(name_hint);
  Sniff s;
  if (names_module(ps, "joblib.")) s = make("joblib", "joblib");
  else if (names_module(ps, "dill.")) s = make("dill", "dill");
  else if (ext == ".pdparams" || ext == ".pdopt") {
    s = make("paddle", "paddle");
    s.notes.push_back("plain pickle; paddle chosen by the " + ext + " extension");
  } else s = make("pickle", "pickle");
  if (ps.protocol >= 0) s.notes.push_back(fmt::format("pickle protocol {}", ps.protocol));
  else s.notes.push_back("pickle protocol 0/1 (no PROTO opcode)");
  if (ext == ".npy" || ext == ".npz" || ext == ".h5")
    s.notes.push_back("named " + ext + " but the content is a pickle");
  if (ext == ".pt" || ext == ".pth" || ext == ".bin" || ext == ".ckpt")
    s.notes.push_back("named " + ext + ": torch.load would unpickle it through its legacy path");
  return s;
}

// joblib's compressors: zlib, gzip, bz2, xz, lzma around a pickle (legacy joblib: "ZF" prefix).
std::optional<Sniff> classify_compressed(std::string_view bytes, std::string_view name_hint) {
  std::string codec;
  std::string_view stream = bytes;
  bool legacy = starts_with(bytes, "ZF");
  if (legacy) {  // "ZF" + hex length padded to 16 chars, then a zlib stream
    size_t z = bytes.find('\x78', 2);
    if (z == std::string_view::npos || z > 32) return std::nullopt;
    stream = bytes.substr(z);
  }
  auto plain = decompress_stream(stream, kSniffDecompressBytes, codec);
  if (!plain || !looks_like_pickle(*plain)) return std::nullopt;
  Sniff inner = classify_pickle(*plain, name_hint);
  Sniff s = make("joblib", "joblib");
  s.notes.push_back(fmt::format("{}-compressed pickle{}", codec, legacy ? " (legacy joblib ZF format)" : ""));
  if (inner.format != "joblib") s.notes.push_back("no joblib classes seen in the first decompressed bytes");
  return s;
}

bool is_savedmodel_name(std::string_view name) {
  size_t slash = name.find_last_of('/');
  std::string_view base = slash == std::string_view::npos ? name : name.substr(slash + 1);
  return base == "saved_model.pb" || base == "keras_metadata.pb" || base == "saved_model.pbtxt";
}

}  // namespace

Sniff sniff_bytes(std::string_view b, std::string_view name_hint) {
  if (b.empty()) return make("empty", "");
  if (is_zip_magic(b)) return classify_zip(b);
  if (starts_with(b, kSevenZipMagic)) return classify_7z(b);
  if (starts_with(b, kNpyMagic)) {
    Sniff s = make("numpy-npy", "numpy");
    NpyHeader h = parse_npy_header(b);
    if (!h.dict.empty()) s.notes.push_back("header " + h.dict);
    if (h.has_object) s.notes.push_back("object dtype: a pickle follows the header");
    if (!h.error.empty()) s.notes.push_back("npy: " + h.error);
    return s;
  }
  auto hdf5 = find_hdf5_signature(b.substr(0, 8));
  if (b.size() >= 262 && b.substr(257, 5) == "ustar") return classify_tar(b);
  if (!hdf5 && looks_like_pickle(b)) return classify_pickle(b, name_hint);
  if (!hdf5) hdf5 = find_hdf5_signature(b);
  if (hdf5) {
    KerasConfig k = scan_keras_config(b);
    bool keras = k.found || b.find("model_config") != std::string_view::npos;
    Sniff s = keras ? make("keras-h5", "keras-h5") : make("hdf5", "");
    if (*hdf5) s.notes.push_back(fmt::format("HDF5 superblock at offset {} (user block before it)", *hdf5));
    if (k.found) s.notes.push_back(fmt::format("model_config with {} layer classes", k.layer_classes.size()));
    return s;
  }
  if (auto s = classify_compressed(b, name_hint)) return *s;
  if (is_savedmodel_name(name_hint)) {
    Sniff s = make("savedmodel", "savedmodel");
    // A SavedModel proto starts with field 1 (schema version, varint) or field 2 (meta_graphs).
    if (uint8_t(b[0]) != 0x08 && uint8_t(b[0]) != 0x12) s.notes.push_back("content does not start like a SavedModel protobuf");
    return s;
  }
  Sniff s = make("unknown", "");
  if (!extension_of(name_hint).empty()) s.notes.push_back("unrecognized content; extension " + extension_of(name_hint) + " ignored");
  return s;
}

Sniff sniff_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    for (const char* marker : {"saved_model.pb", "saved_model.pbtxt", "keras_metadata.pb"}) {
      if (std::filesystem::exists(std::filesystem::path(path) / marker, ec)) {
        Sniff s = make("savedmodel", "savedmodel");
        s.notes.push_back(std::string("directory holding ") + marker);
        return s;
      }
    }
    Sniff s = make("unknown", "");
    s.notes.push_back("directory without saved_model.pb");
    return s;
  }
  MappedFile f(path);
  if (!f.ok()) {
    Sniff s = make("unknown", "");
    s.notes.push_back(f.error());
    return s;
  }
  try {
    return sniff_bytes(f.view().substr(0, 256u << 20), path);
  } catch (const std::exception& e) {  // a parser bug must not take the verifier down
    Sniff s = make("unknown", "");
    s.notes.push_back(std::string("sniffing stopped by an internal error: ") + e.what());
    return s;
  }
}

}  // namespace modelvet::prescan
