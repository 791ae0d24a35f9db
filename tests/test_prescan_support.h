#pragma once
// Byte builders for the prescan tests: hand-assembled pickles, a minimal zip writer (so tests
// can corrupt CRCs and flag bits on purpose), libarchive-written 7z/tar, temp files.
#include <archive.h>
#include <archive_entry.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace prescan_test {

using namespace std::string_literals;

inline std::string le(uint64_t v, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s.push_back(char((v >> (8 * i)) & 0xff));
  return s;
}

// Protocol-4 helpers.
inline std::string short_unicode(const std::string& s) { return "\x8c"s + char(s.size()) + s; }
inline std::string framed(const std::string& body) { return "\x80\x04\x95"s + le(body.size(), 8) + body; }

struct ZipEntry {
  std::string name, data;
  uint16_t flags = 0;
  bool corrupt_crc = false;
};

// A stored-only zip: local headers, central directory, end record.
inline std::string make_zip(const std::vector<ZipEntry>& entries) {
  std::string out, cd;
  for (const auto& e : entries) {
    uint32_t crc = crc32(0, reinterpret_cast<const Bytef*>(e.data.data()), e.data.size());
    if (e.corrupt_crc) crc ^= 0xdeadbeef;
    std::string common = le(20, 2) + le(e.flags, 2) + le(0, 2) + le(0, 2) + le(0x21, 2) + le(crc, 4) +
                         le(e.data.size(), 4) + le(e.data.size(), 4) + le(e.name.size(), 2) + le(0, 2);
    uint32_t offset = out.size();
    out += "PK\x03\x04"s + common + e.name + e.data;
    cd += "PK\x01\x02"s + le(20, 2) + common + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 4) + le(offset, 4) + e.name;
  }
  uint32_t cd_offset = out.size();
  out += cd;
  out += "PK\x05\x06"s + le(0, 2) + le(0, 2) + le(entries.size(), 2) + le(entries.size(), 2) + le(cd.size(), 4) +
         le(cd_offset, 4) + le(0, 2);
  return out;
}

// An archive written by libarchive into memory (format: ARCHIVE_FORMAT_7ZIP, ARCHIVE_FORMAT_TAR_USTAR).
inline std::string make_archive(int format, const std::vector<std::pair<std::string, std::string>>& members) {
  std::vector<char> buf(1 << 20);
  size_t used = 0;
  struct archive* a = archive_write_new();
  archive_write_set_format(a, format);
  archive_write_open_memory(a, buf.data(), buf.size(), &used);
  for (const auto& [name, data] : members) {
    struct archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_size(e, data.size());
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_write_header(a, e);
    archive_write_data(a, data.data(), data.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  return std::string(buf.data(), used);
}

// A scratch directory under /tmp, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = "/tmp/mv_prescan_test_XXXXXX";
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string write(const std::string& name, const std::string& data) const {
    std::string p = path_ + "/" + name;
    std::filesystem::create_directories(std::filesystem::path(p).parent_path());
    std::ofstream(p, std::ios::binary) << data;
    return p;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace prescan_test
