#pragma once
// IPv4 and IPv6 networks ("127.0.0.0/8", "::1/128", "10.1.2.3"). An IPv4-mapped IPv6 address
// ("::ffff:127.0.0.1") belongs to the IPv4 networks it maps.
#include <array>
#include <cstdint>
#include <optional>
#include <string>

namespace modelvet::policy {

class Cidr {
 public:
  static std::optional<Cidr> parse(const std::string& text);
  bool contains(const std::string& address) const;

 private:
  std::array<uint8_t, 16> net_{};  // IPv4 networks are stored IPv4-mapped
  int prefix_bits_ = 0;            // out of 128
};

}  // namespace modelvet::policy
