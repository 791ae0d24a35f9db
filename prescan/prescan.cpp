// prescan_file(): sniff, then walk the containers and collect every pickle a static scanner
// would disassemble (the file itself, zip/7z/tar members, legacy torch sections, npy object
// arrays), plus the container anomalies that make parsers disagree.
#include <filesystem>
#include <map>
#include <set>

#include <fmt/format.h>

#include "prescan/internal.h"

namespace modelvet::prescan {
namespace {

constexpr int kMaxNesting = 3;
constexpr int kLegacyTorchPickles = 5;  // magic, protocol, sys_info, data, storage keys
const std::set<std::string> kPickleExtensions = {".pkl", ".pickle", ".joblib", ".dat", ".data", ".dill"};

bool is_archive_magic(std::string_view b) {
  return starts_with(b, "PK\x03\x04") || starts_with(b, "PK\x05\x06") || starts_with(b, "7z\xBC\xAF\x27\x1C") ||
         (b.size() >= 262 && b.substr(257, 5) == "ustar");
}

// gzip, bzip2, xz: a compressed tar or a joblib stream; the sniffer decides which.
bool is_compressed_magic(std::string_view b) {
  return starts_with(b, "\x1f\x8b") || starts_with(b, "BZh") || starts_with(b, "\xfd" "7zXZ");
}

std::string join_member(const std::string& outer, const std::string& inner) {
  return outer.empty() ? inner : outer + "::" + inner;
}

class Walker {
 public:
  Walker(Report& r, uint64_t max_bytes) : r_(r), max_bytes_(max_bytes), budget_(4 * max_bytes) {}

  // Scans `bytes` (the file, or a member called `member`) by what its content is.
  void scan(std::string_view bytes, const std::string& member, int depth) {
    Sniff s = member.empty() ? r_.sniff : sniff_bytes(bytes, member);
    const std::string& f = s.format;
    if (f == "pytorch-zip" || f == "torchscript" || f == "numpy-npz" || f == "zip" || f == "keras-v3") walk_zip(bytes, member, depth);
    else if (f == "7z") walk_archive(bytes, ArchiveKind::kSevenZip, member, depth);
    else if (f == "tar" || f == "nemo" || (f == "pytorch-legacy" && bytes.size() >= 262 && bytes.substr(257, 5) == "ustar"))
      walk_archive(bytes, ArchiveKind::kTar, member, depth);
    else if (f == "pytorch-legacy") walk_legacy_torch(bytes, member);
    else if (f == "numpy-npy") walk_npy(bytes, member);
    else if (f == "keras-h5" || f == "hdf5") scan_keras(bytes);
    else if (f == "gguf" && member.empty()) r_.gguf = parse_gguf(bytes);
    else if (f == "onnx" && member.empty()) r_.onnx = parse_onnx(bytes);
    else if (f == "joblib" && !looks_like_pickle(bytes)) walk_compressed(bytes, member);
    else if (f == "pickle" || f == "joblib" || f == "dill" || f == "paddle") {
      add_pickle(disassemble_pickle(bytes), member, 0);
      if (depth == 0) check_zip_polyglot(bytes);
    }
  }

 private:
  void add_pickle(PickleScan ps, const std::string& member, uint64_t base) {
    ps.member = member;
    for (auto& g : ps.globals) {
      g.member = member;
      g.offset += base;
    }
    if (ps.complete == false) explain_joblib_break(ps);
    r_.pickles.push_back(std::move(ps));
  }

  // joblib writes numpy array bytes inline after each NumpyArrayWrapper, so opcodes stop there
  // (picklescan and modelscan stop at the same place).
  static void explain_joblib_break(PickleScan& ps) {
    for (const auto& g : ps.globals)
      if (g.module == "joblib.numpy_pickle") {
        ps.anomalies.push_back("joblib stores raw array bytes inline after NumpyArrayWrapper; opcodes after it were not scanned");
        return;
      }
  }

  void anomaly(const std::string& where, const std::string& what) {
    r_.anomalies.push_back(where.empty() ? what : where + ": " + what);
  }

  bool spend(uint64_t n, const std::string& where) {
    if (n <= budget_) {
      budget_ -= n;
      return true;
    }
    if (!budget_exhausted_) anomaly(where, "decompression budget exhausted; remaining members not scanned");
    budget_exhausted_ = true;
    return false;
  }

  // A member worth opening: what picklescan opens (pickle extensions or magic), npy, nested archives.
  static bool worth_opening(const std::string& name, std::string_view head) {
    std::string ext = extension_of(name);
    return kPickleExtensions.count(ext) || has_pickle_magic(head) || ext == ".npy" ||
           starts_with(head, "\x93NUMPY") || is_archive_magic(head) || is_compressed_magic(head) || name == "config.json" ||
           ends_with(name, "/config.json");
  }

  void scan_member(std::string_view data, const std::string& name, const std::string& full, int depth) {
    std::string ext = extension_of(name);
    if (is_archive_magic(data) || is_compressed_magic(data)) {
      anomaly(full, "nested archive");
      if (depth + 1 < kMaxNesting) scan(data, full, depth + 1);
      else anomaly(full, "nesting deeper than 3; not opened");
    } else if (ext == ".npy" || starts_with(data, "\x93NUMPY")) {
      walk_npy(data, full);
    } else if (name == "config.json" || ends_with(name, "/config.json")) {
      if (KerasConfig k = scan_keras_config(data); k.found && !r_.keras.found) r_.keras = k;
    } else if (kPickleExtensions.count(ext) || has_pickle_magic(data) || looks_like_pickle(data)) {
      add_pickle(disassemble_pickle(data), full, 0);
    }
  }

  void walk_zip(std::string_view bytes, const std::string& member, int depth) {
    ZipListing z = read_zip_directory(bytes);
    for (const auto& a : z.anomalies) anomaly(member, a);
    std::set<std::string> ours;
    for (const auto& m : z.members) {
      std::string full = join_member(member, m.name);
      r_.members.push_back(full);
      ours.insert(m.name);
      if (member_path_escapes(m.name)) anomaly(full, "path traversal: the member name leaves the extraction directory");
      if (!spend(m.size, full)) break;
      ZipData head = read_zip_member(bytes, m, 64, max_bytes_);
      if (!head.error.empty()) anomaly(full, head.error);
      else if (head.size != m.size) anomaly(full, fmt::format("size {} but the directory says {}", head.size, m.size));
      else if (!head.crc_ok) anomaly(full, fmt::format("bad CRC (directory 0x{:08x}, data 0x{:08x})", m.crc, head.crc));
      if (!worth_opening(m.name, head.bytes)) continue;
      if (m.size > max_bytes_) {
        anomaly(full, fmt::format("member of {} bytes exceeds the scan limit; first {} bytes scanned", m.size, max_bytes_));
      }
      ZipData data = read_zip_member(bytes, m, max_bytes_, max_bytes_);
      scan_member(data.bytes, m.name, full, depth);
    }
    cross_check_with_libarchive(bytes, member, ours);
  }

  // libarchive as a second, stricter zip reader: where it disagrees, some loader or scanner will.
  void cross_check_with_libarchive(std::string_view bytes, const std::string& member, const std::set<std::string>& ours) {
    ArchiveListing l = read_archive(bytes, ArchiveKind::kZip, nullptr, 0, max_bytes_);
    for (const auto& e : l.errors) anomaly(member, "libarchive: " + e);
    for (const auto& e : l.entries) {
      if (!e.error.empty()) anomaly(join_member(member, e.name), "libarchive: " + e.error);
      if (!ours.count(e.name)) anomaly(join_member(member, e.name), "libarchive sees a member the central directory lacks");
    }
  }

  void walk_archive(std::string_view bytes, ArchiveKind kind, const std::string& member, int depth) {
    const char* what = kind == ArchiveKind::kSevenZip ? "7z" : "tar";
    auto keep = [](const std::string& name, std::string_view head) {
      return worth_opening(name, head) || looks_like_pickle(head.substr(0, 64));
    };
    ArchiveListing l = read_archive(bytes, kind, keep, max_bytes_, budget_);
    if (!l.opened) anomaly(member, fmt::format("{} not readable", what));
    for (const auto& e : l.errors) anomaly(member, fmt::format("{}: {}", what, e));
    for (const auto& e : l.entries) {
      std::string full = join_member(member, e.name);
      r_.members.push_back(full);
      if (member_path_escapes(e.name)) anomaly(full, "path traversal: the member name leaves the extraction directory");
      if (e.encrypted) anomaly(full, "encrypted");
      if (!e.error.empty()) anomaly(full, e.error);
      if (!e.kept) continue;
      spend(e.data.size(), full);
      if (e.data.size() >= max_bytes_) anomaly(full, fmt::format("member truncated to the scan limit of {} bytes", max_bytes_));
      scan_member(e.data, e.name, full, depth);
    }
  }

  // torch's legacy file: pickles of the magic number, protocol version, sys_info, the data
  // (with persistent ids for storages) and the storage keys, then raw storage bytes.
  void walk_legacy_torch(std::string_view bytes, const std::string& member) {
    static const char* kSections[] = {"magic number", "protocol version", "sys_info", "data", "storage keys"};
    uint64_t pos = 0;
    for (int i = 0; i < kLegacyTorchPickles && pos < bytes.size(); ++i) {
      PickleScan ps;
      uint64_t used = pickle_stream_length(bytes.substr(pos), ps);
      for (auto& a : ps.anomalies) a = fmt::format("{} pickle at {}: {}", kSections[i], pos, a);
      ps.length = used;
      add_pickle(std::move(ps), member, pos);
      bool complete = r_.pickles.back().complete;
      pos += used;
      if (!complete) break;
    }
    if (pos < bytes.size())
      r_.sniff.notes.push_back(fmt::format("legacy torch: {} bytes of raw storage data after the pickles", bytes.size() - pos));
  }

  void walk_npy(std::string_view bytes, const std::string& member) {
    NpyHeader h = parse_npy_header(bytes);
    if (!h.error.empty()) anomaly(member, "npy: " + h.error);
    if (h.has_object && h.data_offset <= bytes.size())
      add_pickle(disassemble_pickle(bytes.substr(h.data_offset)), member, h.data_offset);
  }

  void walk_compressed(std::string_view bytes, const std::string& member) {
    std::string codec;
    std::string_view stream = bytes;
    if (starts_with(bytes, "ZF")) stream = legacy_joblib_stream(bytes);
    auto plain = decompress_stream(stream, max_bytes_, codec);
    if (!plain) {
      anomaly(member, "compressed stream could not be decoded");
      return;
    }
    if (plain->size() >= max_bytes_) anomaly(member, fmt::format("decompressed stream truncated at {} bytes", max_bytes_));
    // Offsets of these globals are within the decompressed stream.
    add_pickle(disassemble_pickle(*plain), member.empty() ? "(" + codec + " stream)" : member + "::(" + codec + " stream)", 0);
  }

  void scan_keras(std::string_view bytes) {
    KerasConfig k = scan_keras_config(bytes);
    if (k.found) r_.keras = std::move(k);
  }

  // Python's zipfile finds a zip by its end record, torch by the first bytes: a pickle with a
  // zip appended is a pickle to torch and a zip to zipfile-based scanners.
  void check_zip_polyglot(std::string_view bytes) {
    if (bytes.size() < 22 || bytes.substr(bytes.size() - 22, 2) != "PK") {
      if (bytes.rfind(std::string_view("PK\x05\x06", 4)) == std::string_view::npos) return;
    }
    ZipListing z = read_zip_directory(bytes);
    if (!z.is_zip || z.members.empty()) return;
    anomaly("", fmt::format("polyglot: the file also holds a zip with {} members (zipfile-based scanners read "
                            "the zip, torch and pickle read the pickle)", z.members.size()));
    walk_zip(bytes, "(appended zip)", 1);
  }

  Report& r_;
  uint64_t max_bytes_;
  uint64_t budget_;
  bool budget_exhausted_ = false;
};

int severity_rank(const std::string& s) { return s == "dangerous" ? 2 : s == "suspicious" ? 1 : 0; }

// Walks `bytes` (already sniffed into r.sniff), honouring the scan limit.
void scan_bytes_into(Report& r, std::string_view bytes, uint64_t max_bytes) {
  if (bytes.size() > max_bytes) {
    r.anomalies.push_back(fmt::format("file of {} bytes exceeds the scan limit; first {} bytes scanned", bytes.size(), max_bytes));
    bytes = bytes.substr(0, max_bytes);
  }
  Walker(r, max_bytes).scan(bytes, "", 0);
}

nlohmann::json pickle_json(const PickleScan& ps) {
  nlohmann::json globals = nlohmann::json::array();
  for (const auto& g : ps.globals)
    globals.push_back({{"module", g.module}, {"name", g.name}, {"offset", g.offset}, {"opcode", g.opcode},
                       {"called", g.called}, {"member", g.member}});
  return {{"member", ps.member}, {"protocol", ps.protocol}, {"length", ps.length}, {"complete", ps.complete},
          {"globals", globals}, {"anomalies", ps.anomalies}};
}

}  // namespace

nlohmann::json Report::to_json() const {
  nlohmann::json j;
  j["format"] = sniff.format;
  j["loader"] = sniff.loader;
  j["notes"] = sniff.notes;
  j["members"] = members;
  j["anomalies"] = anomalies;
  j["pickles"] = nlohmann::json::array();
  for (const auto& ps : pickles) j["pickles"].push_back(pickle_json(ps));
  if (keras.found)
    j["keras"] = {{"layer_classes", keras.layer_classes}, {"lambda_layers", keras.lambda_layers},
                  {"references", keras.references}};

  // One entry per flagged global, merged over every pickle: which scanners, how bad, where.
  struct Merged {
    std::map<std::string, std::string> by_scanner;
    std::set<std::string> members;
    bool called = false;
  };
  std::map<std::string, Merged> merged;
  std::vector<std::string> order;
  auto add = [&](const Flag& f, const std::string& member, bool called) {
    auto [it, fresh] = merged.try_emplace(f.global);
    if (fresh) order.push_back(f.global);
    auto& cur = it->second.by_scanner[f.scanner];
    if (severity_rank(f.severity) > severity_rank(cur)) cur = f.severity;
    it->second.members.insert(member);
    it->second.called |= called;
  };
  for (const auto& ps : pickles)
    for (const auto& g : ps.globals)
      for (const auto& f : scanner_flags(g)) add(f, g.member, g.called);
  for (const auto& cls : keras.layer_classes)
    for (const auto& f : keras_layer_flags(cls)) add(f, "", false);

  if (gguf.is_gguf) j["gguf"] = gguf.to_json();
  if (onnx.is_onnx) j["onnx"] = onnx.to_json();
  j["flagged"] = nlohmann::json::array();
  for (const auto& name : order) {
    const Merged& m = merged[name];
    std::string worst;
    std::vector<std::string> scanners;
    for (const auto& [scanner, severity] : m.by_scanner) {
      scanners.push_back(scanner);
      if (severity_rank(severity) > severity_rank(worst)) worst = severity;
    }
    j["flagged"].push_back({{"global", name}, {"scanners", scanners}, {"severity", worst},
                            {"by_scanner", m.by_scanner}, {"members", m.members}, {"called", m.called}});
  }
  return j;
}

Report prescan_file(const std::string& path, uint64_t max_bytes) {
  Report r;
  r.sniff = sniff_file(path);
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    auto it = std::filesystem::recursive_directory_iterator(path, ec);
    for (size_t n = 0; !ec && it != std::filesystem::recursive_directory_iterator() && n < 10000; it.increment(ec), ++n)
      if (it->is_regular_file(ec)) r.members.push_back(std::filesystem::relative(it->path(), path, ec).string());
    return r;
  }
  MappedFile f(path);
  if (!f.ok()) {
    r.anomalies.push_back(f.error());
    return r;
  }
  // Parsers report damage as anomalies; this only keeps a parser bug from taking down the
  // verifier (the fuzzer calls prescan_bytes, without this net, to find such bugs).
  try {
    scan_bytes_into(r, f.view(), max_bytes);
  } catch (const std::exception& e) {
    r.anomalies.push_back(std::string("pre-scan stopped by an internal error: ") + e.what());
  }
  return r;
}

Report prescan_bytes(std::string_view bytes, const std::string& name_hint, uint64_t max_bytes) {
  Report r;
  r.sniff = sniff_bytes(bytes.substr(0, max_bytes), name_hint);
  scan_bytes_into(r, bytes, max_bytes);
  return r;
}

}  // namespace modelvet::prescan
