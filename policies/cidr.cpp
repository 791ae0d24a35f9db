#include "policies/cidr.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace modelvet::policy {
namespace {

// Any textual address as 16 bytes, IPv4 mapped into ::ffff:0:0/96.
std::optional<std::array<uint8_t, 16>> parse_address(const std::string& text, bool* is_v4) {
  std::array<uint8_t, 16> bytes{};
  in_addr v4;
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) {
    bytes[10] = bytes[11] = 0xff;
    std::memcpy(&bytes[12], &v4, 4);
    *is_v4 = true;
    return bytes;
  }
  in6_addr v6;
  if (inet_pton(AF_INET6, text.c_str(), &v6) == 1) {
    std::memcpy(bytes.data(), &v6, 16);
    *is_v4 = false;
    return bytes;
  }
  return std::nullopt;
}

}  // namespace

std::optional<Cidr> Cidr::parse(const std::string& text) {
  size_t slash = text.find('/');
  bool is_v4 = false;
  auto address = parse_address(text.substr(0, slash), &is_v4);
  if (!address) return std::nullopt;
  int max_bits = is_v4 ? 32 : 128;
  int bits = max_bits;
  if (slash != std::string::npos) {
    const char* begin = text.data() + slash + 1;
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(begin, end, bits);
    if (begin == end || ec != std::errc() || ptr != end || bits < 0 || bits > max_bits) return std::nullopt;
  }
  Cidr cidr;
  cidr.prefix_bits_ = is_v4 ? bits + 96 : bits;
  cidr.net_ = *address;
  for (int i = cidr.prefix_bits_; i < 128; ++i) cidr.net_[i / 8] &= static_cast<uint8_t>(~(0x80u >> (i % 8)));
  return cidr;
}

bool Cidr::contains(const std::string& text) const {
  bool is_v4 = false;
  auto address = parse_address(text, &is_v4);
  if (!address) return false;
  for (int i = 0; i < prefix_bits_; ++i) {
    uint8_t mask = static_cast<uint8_t>(0x80u >> (i % 8));
    if (((*address)[i / 8] & mask) != (net_[i / 8] & mask)) return false;
  }
  return true;
}

}  // namespace modelvet::policy
