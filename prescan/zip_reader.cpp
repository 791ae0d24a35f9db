// A deliberately lenient zip reader. Why not libarchive alone: torch (miniz) and Python's
// zipfile (used by picklescan/modelscan) each parse zips their own way and accept files that a
// strict reader rejects (bad CRC, odd flag bits, data before the archive). An attacker exploits
// exactly those differences, so prescan must read what torch reads (central directory, local
// header only to find the data) and report every irregularity instead of refusing the file.
// libarchive still reads the same zip in prescan.cpp; its complaints are reported beside ours.
#include <zlib.h>

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "prescan/internal.h"

namespace modelvet::prescan {
namespace {

constexpr std::string_view kLocalSig{"PK\x03\x04", 4};
constexpr std::string_view kCentralSig{"PK\x01\x02", 4};
constexpr std::string_view kEndSig{"PK\x05\x06", 4};
constexpr std::string_view kZip64EndSig{"PK\x06\x06", 4};
constexpr std::string_view kZip64LocatorSig{"PK\x06\x07", 4};
constexpr size_t kMaxMembers = 100000;

// General-purpose flag bits that ordinary writers set: compression options (1, 2), data
// descriptor (3), UTF-8 names (11). Bit 0 (encryption) is reported on its own.
constexpr uint16_t kOrdinaryFlags = 0x0002 | 0x0004 | 0x0008 | 0x0800;

// Offsets and sizes come from the file: compare without additions that could wrap around.
bool fits(std::string_view z, uint64_t at, uint64_t n) { return at <= z.size() && z.size() - at >= n; }

uint64_t le(std::string_view z, uint64_t at, size_t n) {
  return fits(z, at, n) ? read_le(z.substr(at, n)) : 0;
}

// Applies the zip64 extended-information extra field (id 0x0001) to fields saturated at 0xFFFFFFFF.
void apply_zip64_extra(std::string_view extra, ZipMember& m, bool size_sat, bool csize_sat, bool off_sat) {
  size_t p = 0;
  while (p + 4 <= extra.size()) {
    uint16_t id = read_le(extra.substr(p, 2));
    uint16_t len = read_le(extra.substr(p + 2, 2));
    std::string_view body = extra.substr(p + 4, std::min<size_t>(len, extra.size() - p - 4));
    if (id == 0x0001) {
      size_t q = 0;
      auto take = [&](uint64_t& field) {
        if (q + 8 <= body.size()) field = read_le(body.substr(q, 8));
        q += 8;
      };
      if (size_sat) take(m.size);
      if (csize_sat) take(m.compressed_size);
      if (off_sat) take(m.local_offset);
      return;
    }
    p += 4 + len;
  }
}

// Fills data_offset from the local header and reports where it disagrees with the directory.
void check_local_header(std::string_view z, ZipMember& m, std::vector<std::string>& anomalies) {
  if (!fits(z, m.local_offset, 30) || z.substr(m.local_offset, 4) != kLocalSig) {
    anomalies.push_back(fmt::format("member '{}': no local header at offset {}", m.name, m.local_offset));
    m.data_offset = z.size();
    return;
  }
  uint64_t name_len = le(z, m.local_offset + 26, 2), extra_len = le(z, m.local_offset + 28, 2);
  m.data_offset = m.local_offset + 30 + name_len + extra_len;
  std::string_view local_name = z.substr(std::min<uint64_t>(m.local_offset + 30, z.size()), name_len);
  if (local_name != m.name)
    anomalies.push_back(fmt::format("member '{}': local header names it '{}'", m.name, local_name));
  uint16_t local_flags = le(z, m.local_offset + 6, 2);
  uint16_t local_method = le(z, m.local_offset + 8, 2);
  if (local_method != m.method)
    anomalies.push_back(fmt::format("member '{}': local header method {} differs from directory {}", m.name,
                                    local_method, m.method));
  if ((local_flags & 0x0008) == 0) {
    uint32_t local_crc = le(z, m.local_offset + 14, 4);
    if (local_crc != m.crc)
      anomalies.push_back(fmt::format("member '{}': local header CRC 0x{:08x} differs from directory 0x{:08x}",
                                      m.name, local_crc, m.crc));
  }
}

void check_flags(const ZipMember& m, std::vector<std::string>& anomalies) {
  if (m.flags & 0x0001) anomalies.push_back(fmt::format("member '{}': encrypted (flag bit 0)", m.name));
  if (uint16_t odd = m.flags & ~(kOrdinaryFlags | 0x0001))
    anomalies.push_back(fmt::format("member '{}': odd flag bits 0x{:04x}", m.name, odd));
  if (m.method != 0 && m.method != 8)
    anomalies.push_back(fmt::format("member '{}': compression method {} (not stored/deflate)", m.name, m.method));
}

// Fallback when there is no central directory (truncated head, damaged tail): walk local headers.
void walk_local_headers(std::string_view z, ZipListing& out) {
  uint64_t p = 0;
  while (fits(z, p, 30) && z.substr(p, 4) == kLocalSig && out.members.size() < kMaxMembers) {
    ZipMember m;
    m.flags = le(z, p + 6, 2);
    m.method = le(z, p + 8, 2);
    m.crc = le(z, p + 14, 4);
    m.compressed_size = le(z, p + 18, 4);
    m.size = le(z, p + 22, 4);
    uint64_t name_len = le(z, p + 26, 2), extra_len = le(z, p + 28, 2);
    m.name = std::string(z.substr(std::min<uint64_t>(p + 30, z.size()), name_len));
    m.local_offset = p;
    m.data_offset = p + 30 + name_len + extra_len;
    if (m.size == 0xFFFFFFFF || m.compressed_size == 0xFFFFFFFF)
      apply_zip64_extra(z.substr(std::min<uint64_t>(p + 30 + name_len, z.size()), extra_len), m,
                        m.size == 0xFFFFFFFF, m.compressed_size == 0xFFFFFFFF, false);
    check_flags(m, out.anomalies);
    out.members.push_back(m);
    if ((m.flags & 0x0008) && m.compressed_size == 0) break;  // size only in the trailing descriptor
    if (!fits(z, m.data_offset, m.compressed_size)) break;
    p = m.data_offset + m.compressed_size;
    if (m.flags & 0x0008) p += (fits(z, p, 4) && z.substr(p, 4) == std::string_view("PK\x07\x08", 4)) ? 16 : 12;
  }
}

}  // namespace

ZipListing read_zip_directory(std::string_view z) {
  ZipListing out;
  if (z.size() < 22) {
    if (starts_with(z, kLocalSig)) {
      out.is_zip = true;
      out.anomalies.push_back("zip shorter than its end-of-directory record");
      walk_local_headers(z, out);
    }
    return out;
  }
  // The end record sits in the last 22 + 65535 (comment) bytes; the last match wins, as in zipfile.
  size_t search_from = z.size() > 22 + 65535 ? z.size() - 22 - 65535 : 0;
  size_t eocd = std::string_view::npos;
  for (size_t p = z.size() - 22 + 1; p-- > search_from;) {
    if (z.substr(p, 4) == kEndSig) { eocd = p; break; }
  }
  if (eocd == std::string_view::npos) {
    if (starts_with(z, kLocalSig)) {
      out.is_zip = true;
      out.anomalies.push_back("no end of central directory; members read from local headers");
      walk_local_headers(z, out);
    }
    return out;
  }
  out.is_zip = true;
  uint64_t count = le(z, eocd + 10, 2), cd_size = le(z, eocd + 12, 4), cd_offset = le(z, eocd + 16, 4);
  uint64_t cd_end = eocd;  // where the directory should end
  if (eocd >= 20 && z.substr(eocd - 20, 4) == kZip64LocatorSig) {
    uint64_t z64 = le(z, eocd - 20 + 8, 8);
    if (fits(z, z64, 56) && z.substr(z64, 4) == kZip64EndSig) {
      count = le(z, z64 + 32, 8);
      cd_size = le(z, z64 + 40, 8);
      cd_offset = le(z, z64 + 48, 8);
      cd_end = z64;
    } else {
      out.anomalies.push_back("zip64 locator points to no zip64 end record");
    }
  }
  // Bytes before the archive shift every offset; zipfile compensates, torch's reader does not.
  uint64_t shift = 0;
  if (cd_size <= cd_end && cd_offset < cd_end - cd_size) {
    shift = cd_end - cd_size - cd_offset;
    out.anomalies.push_back(fmt::format("{} bytes before the zip data (offsets shifted)", shift));
  }
  uint64_t p = cd_offset + shift;
  std::set<std::string> seen;
  for (uint64_t i = 0; i < count && out.members.size() < kMaxMembers; ++i) {
    if (!fits(z, p, 46) || z.substr(p, 4) != kCentralSig) {
      out.anomalies.push_back(fmt::format("central directory entry {} of {} missing at offset {}", i, count, p));
      break;
    }
    ZipMember m;
    m.flags = le(z, p + 8, 2);
    m.method = le(z, p + 10, 2);
    m.crc = le(z, p + 16, 4);
    m.compressed_size = le(z, p + 20, 4);
    m.size = le(z, p + 24, 4);
    uint64_t name_len = le(z, p + 28, 2), extra_len = le(z, p + 30, 2), comment_len = le(z, p + 32, 2);
    m.local_offset = le(z, p + 42, 4);
    m.name = std::string(z.substr(std::min<uint64_t>(p + 46, z.size()), name_len));
    apply_zip64_extra(z.substr(std::min<uint64_t>(p + 46 + name_len, z.size()), extra_len), m,
                      m.size == 0xFFFFFFFF, m.compressed_size == 0xFFFFFFFF, m.local_offset == 0xFFFFFFFF);
    m.local_offset += shift;
    p += 46 + name_len + extra_len + comment_len;
    if (!seen.insert(m.name).second)
      out.anomalies.push_back(fmt::format("duplicate member name '{}' (readers disagree on which wins)", m.name));
    check_flags(m, out.anomalies);
    check_local_header(z, m, out.anomalies);
    out.members.push_back(std::move(m));
  }
  if (out.members.size() >= kMaxMembers) out.anomalies.push_back(fmt::format("more than {} members; rest not read", kMaxMembers));
  return out;
}

ZipData read_zip_member(std::string_view z, const ZipMember& m, uint64_t keep, uint64_t budget) {
  ZipData out;
  if (m.data_offset >= z.size() && m.compressed_size > 0) {
    out.error = "data outside the file";
    return out;
  }
  std::string_view raw = z.substr(std::min<uint64_t>(m.data_offset, z.size()), m.compressed_size);
  if (raw.size() < m.compressed_size) out.error = "data truncated";
  uLong crc = crc32(0, nullptr, 0);
  auto consume = [&](const char* p, size_t n) {
    crc = crc32(crc, reinterpret_cast<const Bytef*>(p), static_cast<uInt>(n));
    if (out.bytes.size() < keep) out.bytes.append(p, std::min<uint64_t>(n, keep - out.bytes.size()));
    out.size += n;
  };
  if (m.flags & 0x0001) {
    out.error = "encrypted";
    return out;
  }
  if (m.method == 0) {
    for (size_t off = 0; off < raw.size(); off += 1u << 30) consume(raw.data() + off, std::min<size_t>(raw.size() - off, 1u << 30));
  } else if (m.method == 8) {
    z_stream s{};
    if (inflateInit2(&s, -MAX_WBITS) != Z_OK) {
      out.error = "inflateInit failed";
      return out;
    }
    char buf[1 << 16];
    s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
    s.avail_in = static_cast<uInt>(std::min<size_t>(raw.size(), UINT32_MAX));
    int rc = Z_OK;
    while (rc == Z_OK) {
      s.next_out = reinterpret_cast<Bytef*>(buf);
      s.avail_out = sizeof buf;
      rc = inflate(&s, Z_NO_FLUSH);
      consume(buf, sizeof buf - s.avail_out);
      if (out.size > budget) {
        out.error = fmt::format("decompresses to more than {} bytes; stopped", budget);
        break;
      }
      if (rc == Z_BUF_ERROR && s.avail_in == 0) break;
    }
    if (rc != Z_STREAM_END && out.error.empty()) out.error = fmt::format("deflate stream broken (zlib {})", rc);
    inflateEnd(&s);
  } else {
    out.error = fmt::format("compression method {} not decoded", m.method);
    return out;
  }
  out.crc = static_cast<uint32_t>(crc);
  out.crc_ok = out.error.empty() && out.crc == m.crc && out.size == m.size;
  return out;
}

}  // namespace modelvet::prescan
