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
  else if (keras_v3) s = make("keras-v3", "keras-h5");  // the Keras emulation reads config.json of a zip
  else s = make("zip", "archive");  // any other zip: every member opened by content, nested ones too
  if (s.format == "keras-v3") s.notes.push_back("Keras v3 archive (config.json)");
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

std::string_view base_name(std::string_view name) {
  size_t slash = name.find_last_of('/');
  return slash == std::string_view::npos ? name : name.substr(slash + 1);
}

// A tar (plain or compressed; libarchive detects the filter): torch's oldest format, a NeMo
// model, or any other tar, whose members the harness's archive loader opens by content.
Sniff classify_tar(std::string_view bytes, std::string_view name_hint, const std::string& codec) {
  ArchiveListing l = read_archive(bytes, ArchiveKind::kTar, nullptr, 0, kSniffDecompressBytes);
  std::set<std::string> names;
  bool nemo_weights = false, nemo_config = false;
  std::vector<std::string> escaping;
  for (const auto& e : l.entries) {
    std::string_view n = e.name;
    while (starts_with(n, "./")) n.remove_prefix(2);
    names.insert(std::string(n));
    nemo_weights |= base_name(n) == "model_weights.ckpt";
    nemo_config |= base_name(n) == "model_config.yaml";
    if (member_path_escapes(e.name)) escaping.push_back(e.name);
  }
  Sniff s;
  // torch's oldest format: a tar of sys_info, pickle, storages and tensors.
  if (codec.empty() && names.count("pickle") && (names.count("sys_info") || names.count("storages"))) {
    s = make("pytorch-legacy", "torch");
    s.notes.push_back("legacy torch tar (sys_info, pickle, storages, tensors)");
  } else if (nemo_weights && (nemo_config || extension_of(name_hint) == ".nemo")) {
    s = make("nemo", "archive");
    s.notes.push_back("NeMo archive: restore_from extracts it and torch.loads model_weights.ckpt");
  } else {
    s = make("tar", "archive");
  }
  if (!codec.empty()) s.notes.push_back(codec + "-compressed tar");
  s.notes.push_back(fmt::format("{} tar members{}", l.entries.size(), l.errors.empty() ? "" : " listed before: " + l.errors.front()));
  for (const auto& e : escaping) s.notes.push_back("path traversal: member '" + e + "' leaves the extraction directory");
  return s;
}

// A zip end record near the end: zipfile-based loaders (Keras's is_zipfile) would see a zip.
bool has_trailing_zip(std::string_view b) {
  size_t from = b.size() > 65557 ? b.size() - 65557 : 0;
  return b.substr(from).find(std::string_view("PK\x05\x06", 4)) != std::string_view::npos;
}

// safetensors: valid means no loader runs code from it; anything else is not vouched for.
Sniff classify_safetensors(std::string_view b, const SafetensorsCheck& c) {
  Sniff s = make("safetensors", "");
  if (!c.valid) {
    s.notes.push_back("safetensors header invalid: " + c.error);
  } else if (has_trailing_zip(b) || find_hdf5_signature(b)) {
    s.notes.push_back("valid safetensors header, but the file also holds a zip end record or an HDF5 superblock (polyglot)");
  } else {
    s.no_code_path = "safetensors: header valid, no code path";
    s.notes.push_back(fmt::format("{} tensors, {} metadata entries; header and offsets consistent", c.tensors, c.metadata));
  }
  return s;
}

// HDF5 with no Keras model in it: h5py reads datasets and attributes without running code.
// PyTables (pandas.read_hdf) pickles object columns and attributes, so its files are not plain data.
Sniff classify_hdf5_data(std::string_view b) {
  Sniff s = make("hdf5", "");
  for (const char* marker : {"PYTABLES_FORMAT_VERSION", "pandas_type", "pandas_version"}) {
    if (b.find(marker) != std::string_view::npos) {
      s.notes.push_back(std::string("PyTables/pandas HDF5 (") + marker + "): pandas.read_hdf unpickles object data; no loader here");
      return s;
    }
  }
  if (has_trailing_zip(b)) {
    s.notes.push_back("HDF5 with a zip end record at its end (polyglot)");
    return s;
  }
  s.no_code_path = "data file: no victim's loader runs code from it";
  s.notes.push_back("HDF5 data (no model_config): h5py reads it without running code");
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

// A compressed stream that is neither a pickle nor a tar: text (sklearn's OpenML .json.gz and
// .arff.gz, CSVs), or the raw array bytes of a legacy joblib `.npy.z` (read with frombuffer),
// is data; anything else is not vouched for.
Sniff classify_compressed_data(const std::string& plain, const std::string& codec, bool legacy) {
  Sniff s = make("compressed", "");
  std::string_view head = std::string_view(plain).substr(0, 4096);
  bool text = !head.empty() && head.find('\0') == std::string_view::npos;
  for (char c : head) text &= uint8_t(c) >= 0x09;
  if (legacy) {
    s.no_code_path = "data file: no victim's loader runs code from it";
    s.notes.push_back("legacy joblib (< 0.10) ZF zlib stream of raw array bytes (a *.npy.z sibling): read with frombuffer, never unpickled");
  } else if (text) {
    s.no_code_path = "data file: no victim's loader runs code from it";
    s.notes.push_back(codec + "-compressed text");
  } else {
    s.notes.push_back(codec + "-compressed stream of unrecognised binary content");
  }
  return s;
}

// joblib's compressors: zlib, gzip, bz2, xz, lzma around a pickle (legacy joblib: "ZF" prefix).
std::optional<Sniff> classify_compressed(std::string_view bytes, std::string_view name_hint) {
  std::string codec;
  std::string_view stream = bytes;
  bool legacy = starts_with(bytes, "ZF");
  if (legacy) stream = legacy_joblib_stream(bytes);
  auto plain = decompress_stream(stream, kSniffDecompressBytes, codec);
  // A compressed tar (model.tar.gz) is an archive, whatever its first bytes look like to a pickle test.
  if (plain && !legacy && plain->size() >= 262 && plain->substr(257, 5) == "ustar") return classify_tar(bytes, name_hint, codec);
  if (plain && !looks_like_pickle(*plain)) return classify_compressed_data(*plain, codec, legacy);
  if (!plain) return std::nullopt;
  Sniff inner = classify_pickle(*plain, name_hint);
  Sniff s = make("joblib", "joblib");
  s.notes.push_back(fmt::format("{}-compressed pickle{}", codec, legacy ? " (legacy joblib ZF format)" : ""));
  if (inner.format != "joblib") s.notes.push_back("no joblib classes seen in the first decompressed bytes");
  return s;
}

// GGUF: llama.cpp's file. A victim (llama-cpp-python) reads the metadata, then renders
// tokenizer.chat_template with jinja2 on every chat request: that is the code path.
Sniff classify_gguf(std::string_view b) {
  Sniff s = make("gguf", "gguf");
  GgufMetadata m = parse_gguf(b);
  if (!m.ok) {
    s.notes.push_back("GGUF metadata invalid: " + m.error);
    return s;
  }
  s.notes.push_back(fmt::format("GGUF v{}: {} tensors, {} metadata key/values{}", m.version, m.tensor_count, m.kv_count,
                                m.architecture.empty() ? "" : ", architecture " + m.architecture));
  if (m.templates.empty()) s.notes.push_back("no tokenizer.chat_template");
  for (const auto& t : m.templates) {
    std::string flags;
    for (const auto& f : t.flags) flags += (flags.empty() ? "" : ", ") + f;
    s.notes.push_back(fmt::format("{}: {} bytes{}", t.key, t.size, flags.empty() ? "" : "; template constructs: " + flags));
  }
  return s;
}

// ONNX: onnx.load parses the protobuf and opens every external-data location; a runtime loads
// the native library a custom-op domain names.
Sniff classify_onnx(const OnnxInfo& o, std::string_view name_hint) {
  Sniff s = make("onnx", "onnx");
  std::string opsets;
  for (const auto& [d, v] : o.opsets) opsets += fmt::format("{}{}:{}", opsets.empty() ? "" : ", ", d.empty() ? "ai.onnx" : d, v);
  s.notes.push_back(fmt::format("ONNX ir_version {}, opsets {}, {} nodes, {} initializers", o.ir_version,
                                opsets.empty() ? "(none)" : opsets, o.nodes, o.initializers));
  if (!o.external.empty()) s.notes.push_back(fmt::format("{} tensors with external data", o.external.size()));
  for (const auto& e : o.external)
    if (e.escapes) s.notes.push_back("external data location '" + e.location + "' (tensor '" + e.tensor + "') leaves the model's directory");
  for (const auto& d : o.native_library_domains) s.notes.push_back("operator domain '" + d + "' names a native library");
  std::string ext = extension_of(name_hint);
  if (!ext.empty() && ext != ".onnx" && ext != ".ort") s.notes.push_back("ONNX content named " + std::string(base_name(name_hint)));
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
  if (starts_with(b, "GGUF")) return classify_gguf(b);
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
  if (auto st = check_safetensors(b)) {
    Sniff s = classify_safetensors(b, *st);
    if (extension_of(name_hint) != ".safetensors") s.notes.push_back("safetensors content named " + std::string(base_name(name_hint)));
    return s;
  }
  auto hdf5 = find_hdf5_signature(b.substr(0, 8));
  if (b.size() >= 262 && b.substr(257, 5) == "ustar") return classify_tar(b, name_hint, "");
  if (!hdf5 && uint8_t(b[0]) == 0x08 && !is_savedmodel_name(name_hint))
    if (OnnxInfo o = parse_onnx(b); o.is_onnx) return classify_onnx(o, name_hint);
  if (!hdf5 && looks_like_pickle(b)) return classify_pickle(b, name_hint);
  if (!hdf5) hdf5 = find_hdf5_signature(b);
  if (hdf5) {
    KerasConfig k = scan_keras_config(b);
    bool keras = k.found || b.find("model_config") != std::string_view::npos;
    Sniff s = keras ? make("keras-h5", "keras-h5") : classify_hdf5_data(b);
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
    // safetensors offsets are checked against the whole file, however large (only its header is read).
    if (f.view().size() > (256u << 20))
      if (auto st = check_safetensors(f.view())) return classify_safetensors(f.view(), *st);
    Sniff s = sniff_bytes(f.view().substr(0, 256u << 20), path);
    if (s.format != "safetensors" && extension_of(path) == ".safetensors")
      s.notes.push_back("named .safetensors but the content is " + s.format);
    return s;
  } catch (const std::exception& e) {  // a parser bug must not take the verifier down
    Sniff s = make("unknown", "");
    s.notes.push_back(std::string("sniffing stopped by an internal error: ") + e.what());
    return s;
  }
}

}  // namespace modelvet::prescan
