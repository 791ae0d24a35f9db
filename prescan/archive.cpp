// libarchive for the containers it reads well: 7z, tar, the compressed single streams joblib
// writes (gzip, bzip2, xz, lzma), and a second opinion on zips. Everything is read from memory
// with bounded output, so a decompression bomb stops at the budget.
#include <archive.h>
#include <archive_entry.h>
#include <zlib.h>

#include <memory>

#include <fmt/format.h>

#include "prescan/internal.h"

namespace modelvet::prescan {
namespace {

using ArchivePtr = std::unique_ptr<struct archive, int (*)(struct archive*)>;

std::string last_error(struct archive* a) {
  const char* e = archive_error_string(a);
  return e ? e : "unknown libarchive error";
}

// zlib with its 2-byte header (0x78 ..): joblib's "zlib" compressor. libarchive has no raw zlib filter.
std::optional<std::string> inflate_zlib(std::string_view bytes, uint64_t max_out) {
  if (bytes.size() < 2 || uint8_t(bytes[0]) != 0x78 || ((uint8_t(bytes[0]) << 8) | uint8_t(bytes[1])) % 31 != 0)
    return std::nullopt;
  z_stream s{};
  if (inflateInit(&s) != Z_OK) return std::nullopt;
  std::string out;
  char buf[1 << 16];
  s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  s.avail_in = static_cast<uInt>(std::min<size_t>(bytes.size(), UINT32_MAX));
  int rc = Z_OK;
  while (rc == Z_OK && out.size() < max_out) {
    s.next_out = reinterpret_cast<Bytef*>(buf);
    s.avail_out = sizeof buf;
    rc = inflate(&s, Z_NO_FLUSH);
    out.append(buf, std::min<uint64_t>(sizeof buf - s.avail_out, max_out - out.size()));
  }
  inflateEnd(&s);
  if (out.empty()) return std::nullopt;
  return out;
}

}  // namespace

ArchiveListing read_archive(std::string_view bytes, ArchiveKind kind, const KeepMember& keep,
                            uint64_t max_member, uint64_t budget) {
  ArchiveListing out;
  ArchivePtr a(archive_read_new(), archive_read_free);
  switch (kind) {
    case ArchiveKind::kSevenZip: archive_read_support_format_7zip(a.get()); break;
    case ArchiveKind::kTar: archive_read_support_format_tar(a.get()); archive_read_support_filter_all(a.get()); break;
    case ArchiveKind::kZip: archive_read_support_format_zip_seekable(a.get()); break;
  }
  if (archive_read_open_memory(a.get(), bytes.data(), bytes.size()) != ARCHIVE_OK) {
    out.errors.push_back(last_error(a.get()));
    return out;
  }
  out.opened = true;
  uint64_t spent = 0;
  struct archive_entry* e = nullptr;
  for (size_t n = 0; n < 100000; ++n) {
    int rc = archive_read_next_header(a.get(), &e);
    if (rc == ARCHIVE_EOF) break;
    if (rc < ARCHIVE_WARN) {
      out.errors.push_back(last_error(a.get()));
      break;
    }
    ArchiveEntry entry;
    const char* name = archive_entry_pathname(e);
    entry.name = name ? name : "";
    entry.size = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
    entry.encrypted = archive_entry_is_encrypted(e);
    if (archive_entry_filetype(e) == AE_IFDIR) continue;
    // Read the member in chunks: the first bytes decide whether it is kept whole.
    char buf[1 << 16];
    bool decided = false;
    for (;;) {
      la_ssize_t got = archive_read_data(a.get(), buf, sizeof buf);
      if (got < 0) {
        entry.error = last_error(a.get());
        break;
      }
      if (got == 0) break;
      spent += got;
      if (!decided) {
        entry.kept = keep && keep(entry.name, std::string_view(buf, got));
        decided = true;
      }
      uint64_t limit = entry.kept ? max_member : 64;
      if (entry.data.size() < limit) entry.data.append(buf, std::min<uint64_t>(got, limit - entry.data.size()));
      if (spent > budget) {
        entry.error = fmt::format("decompression budget of {} bytes exhausted", budget);
        break;
      }
    }
    if (!decided) entry.kept = keep && keep(entry.name, {});
    bool stop = spent > budget;
    out.entries.push_back(std::move(entry));
    if (stop) {
      out.errors.push_back("stopped: decompression budget exhausted");
      break;
    }
  }
  return out;
}

std::optional<std::string> decompress_stream(std::string_view bytes, uint64_t max_out, std::string& codec) {
  if (auto z = inflate_zlib(bytes, max_out)) {
    codec = "zlib";
    return z;
  }
  ArchivePtr a(archive_read_new(), archive_read_free);
  archive_read_support_filter_gzip(a.get());
  archive_read_support_filter_bzip2(a.get());
  archive_read_support_filter_xz(a.get());
  archive_read_support_filter_lzma(a.get());
  archive_read_support_format_raw(a.get());
  if (archive_read_open_memory(a.get(), bytes.data(), bytes.size()) != ARCHIVE_OK) return std::nullopt;
  struct archive_entry* e = nullptr;
  if (archive_read_next_header(a.get(), &e) != ARCHIVE_OK) return std::nullopt;
  if (archive_filter_count(a.get()) < 2) return std::nullopt;  // only the "none" filter: not compressed
  const char* name = archive_filter_name(a.get(), 0);
  codec = name ? name : "compressed";
  std::string out;
  char buf[1 << 16];
  while (out.size() < max_out) {
    la_ssize_t got = archive_read_data(a.get(), buf, sizeof buf);
    if (got <= 0) break;
    out.append(buf, std::min<uint64_t>(got, max_out - out.size()));
  }
  if (out.empty()) return std::nullopt;
  return out;
}

}  // namespace modelvet::prescan
