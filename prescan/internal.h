#pragma once
// Building blocks shared by prescan's parsers; not part of the public API (prescan.h).
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "prescan/prescan.h"

namespace modelvet::prescan {

// ---- bytes -------------------------------------------------------------------------------
inline uint64_t read_le(std::string_view b) {
  uint64_t v = 0;
  for (size_t i = 0; i < b.size() && i < 8; ++i) v |= uint64_t(uint8_t(b[i])) << (8 * i);
  return v;
}
inline bool parse_decimal(std::string_view s, uint64_t& out) {
  if (s.empty() || s.size() > 19) return false;
  out = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    out = out * 10 + uint64_t(c - '0');
  }
  return true;
}
inline bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
inline bool ends_with(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}
std::string lower(std::string_view s);
std::string extension_of(std::string_view name);  // lower-cased, with the dot: ".pt"
// An archive member name that lands outside the extraction directory (absolute, or `..` climbing out).
bool member_path_escapes(std::string_view name);

// Read-only mapping of a whole file: parsers get a string_view and never copy the file.
class MappedFile {
 public:
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  std::string_view view() const { return {static_cast<const char*>(data_), size_}; }

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
  std::string error_;
};

// ---- pickle --------------------------------------------------------------------------------
// Parses exactly one pickle from the start of `bytes` into `out`; returns the bytes consumed.
uint64_t pickle_stream_length(std::string_view bytes, PickleScan& out);
// Does `head` start with something the unpickler would accept (PROTO, or protocol 0/1 opcodes
// that parse without an unknown opcode)?
bool looks_like_pickle(std::string_view head);
// The 0x80 0x02..0x05 prefix scanners use to spot pickles inside containers.
inline bool has_pickle_magic(std::string_view b) {
  return b.size() >= 2 && uint8_t(b[0]) == 0x80 && uint8_t(b[1]) >= 2 && uint8_t(b[1]) <= 5;
}

// ---- zip (lenient reader, see zip_reader.cpp for why) --------------------------------------
struct ZipMember {
  std::string name;
  uint16_t flags = 0, method = 0;
  uint32_t crc = 0;
  uint64_t compressed_size = 0, size = 0;
  uint64_t local_offset = 0;  // of the local header, as the central directory says
  uint64_t data_offset = 0;   // where the member's data starts (after the local header)
};
struct ZipListing {
  bool is_zip = false;
  std::vector<ZipMember> members;
  std::vector<std::string> anomalies;
};
ZipListing read_zip_directory(std::string_view zip);

struct ZipData {
  std::string bytes;      // the first `keep` uncompressed bytes
  bool crc_ok = false;
  uint32_t crc = 0;       // computed over everything that could be read
  uint64_t size = 0;      // uncompressed bytes produced
  std::string error;      // "" when the member decoded completely
};
// Decodes one member (stored or deflated), keeping at most `keep` bytes; the whole member is
// still decoded (up to `budget` bytes) to check its CRC.
ZipData read_zip_member(std::string_view zip, const ZipMember& m, uint64_t keep, uint64_t budget);

// ---- other containers (libarchive) ---------------------------------------------------------
enum class ArchiveKind { kSevenZip, kTar, kZip };
struct ArchiveEntry {
  std::string name;
  uint64_t size = 0;
  std::string data;  // the whole member when kept, else its first bytes
  bool kept = false;
  bool encrypted = false;
  std::string error;  // libarchive's complaint about this member, if any
};
struct ArchiveListing {
  bool opened = false;
  std::vector<ArchiveEntry> entries;
  std::vector<std::string> errors;
};
using KeepMember = std::function<bool(const std::string& name, std::string_view head)>;
// Lists an archive held in memory; members for which `keep` says yes are extracted whole
// (up to `max_member` bytes). Total decompression is bounded by `budget`.
ArchiveListing read_archive(std::string_view bytes, ArchiveKind kind, const KeepMember& keep,
                            uint64_t max_member, uint64_t budget);
// joblib < 0.10's compressed files: "ZF", the uncompressed length in hex left-justified to 19
// characters (len(hex(2**64))), one more space under Python 2 ("...L"), then a zlib stream
// (read_zfile in joblib/numpy_pickle_compat.py skips that space the same way).
inline std::string_view legacy_joblib_stream(std::string_view b) {
  if (b.size() <= 22) return {};
  return b.substr(b[21] == ' ' ? 22 : 21);
}
// Decompresses a single gzip/bzip2/xz/lzma/zlib stream, producing at most `max_out` bytes.
// Returns nullopt if `bytes` is not such a stream; `codec` names the one found.
std::optional<std::string> decompress_stream(std::string_view bytes, uint64_t max_out, std::string& codec);

// ---- numpy ---------------------------------------------------------------------------------
struct NpyHeader {
  bool ok = false;
  int major = 0, minor = 0;
  std::string dict;         // the header's Python literal
  std::string descr;        // its 'descr' value
  bool has_object = false;  // an object dtype: a pickle follows the header
  uint64_t data_offset = 0;
  std::string error;
};
NpyHeader parse_npy_header(std::string_view bytes);

// ---- safetensors ---------------------------------------------------------------------------
struct SafetensorsCheck {
  bool valid = false;     // the header is consistent with the file: no code path
  std::string error;      // why not, when the file starts like safetensors but is not valid
  size_t tensors = 0, metadata = 0;
};
// nullopt when `b` (the whole file) does not even start like safetensors (u64 length, '{').
std::optional<SafetensorsCheck> check_safetensors(std::string_view b);

// ---- HDF5 / Keras --------------------------------------------------------------------------
// Offset of the HDF5 superblock signature (searched at 0, 512, 1024, 2048, ...), if any.
std::optional<uint64_t> find_hdf5_signature(std::string_view bytes);
// Finds a Keras model config ({"class_name": ...} JSON) in raw bytes and summarizes it.
KerasConfig scan_keras_config(std::string_view bytes);

}  // namespace modelvet::prescan

namespace modelvet::prescan {
// prescan_file() on bytes already in memory (the fuzzer's entry into every walker).
Report prescan_bytes(std::string_view bytes, const std::string& name_hint, uint64_t max_bytes = 256ull << 20);
// What the scanners' Keras checks say of a layer class (modelscan flags Lambda).
std::vector<Flag> keras_layer_flags(const std::string& layer_class);
}  // namespace modelvet::prescan
