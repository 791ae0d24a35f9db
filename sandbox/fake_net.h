#pragma once
// The jail's fake network: services that live inside the jail's own network namespace and
// answer everything the sample tries to reach. The tracer's cgroup hooks steer every outbound
// TCP connection and UDP datagram here (recording where it was meant to go); these services
// record what was sent. Nothing leaves the namespace, whose only interface is lo.
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "trace/event.h"

namespace modelvet::sandbox {

inline constexpr uint16_t kFakeDnsPort = 53;     // resolv.conf's nameserver 127.0.0.1 reaches it unsteered
inline constexpr size_t kMaxRecordedBytes = 64 * 1024;

// What a network namespace can reach: used to prove a jail has no route out before detonating.
struct NetnsView {
  uint64_t inode = 0;
  std::vector<std::string> interfaces;   // from /proc/<pid>/net/dev
  int ipv4_routes = 0;                   // main-table routes (a lo-only namespace has none)
  int ipv6_routes = 0;                   // non-loopback IPv6 routes
  bool isolated() const { return interfaces == std::vector<std::string>{"lo"} && ipv4_routes == 0 && ipv6_routes == 0; }
};
// The namespace of process `pid`, read through /proc/<pid>/net: no setns, so an unprivileged
// supervisor can check a jail whose namespaces belong to the jail's user namespace.
NetnsView inspect_netns_of(int pid, std::string* error);

// The fake network's sockets: a TCP catch-all on an ephemeral port and DNS on 53, both
// dual-stack on [::], and a sock_diag socket that identifies the jail's sending sockets (-1 where
// it could not be opened: sessions are then reported unattributed).
struct FakeNetSockets {
  int tcp = -1, udp = -1, diag = -1;
};
// In the calling process's network namespace (it needs CAP_NET_ADMIN and CAP_NET_BIND_SERVICE
// there): brings lo up and binds both sockets. False with *error, and nothing left open, on failure.
bool bind_fake_net_sockets(FakeNetSockets* sockets, std::string* error);

class FakeNetwork {
 public:
  // Serves sockets bound inside a jail's namespace (taking ownership of them) on a private thread.
  static std::unique_ptr<FakeNetwork> serve(FakeNetSockets sockets, std::string* error);
  ~FakeNetwork();
  uint16_t tcp_port() const { return tcp_port_; }
  uint16_t udp_port() const { return kFakeDnsPort; }
  // Stops the services and returns what they saw (source "net").
  Events stop();

 private:
  FakeNetwork() = default;
  void run();
  void record(Event e);

  int tcp_fd_ = -1, udp_fd_ = -1, diag_fd_ = -1, epoll_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: stop() wakes the service thread at once
  uint16_t tcp_port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  std::mutex mu_;
  Events events_;
};

// Exposed for unit tests: parses a DNS query; false when the datagram is not one.
bool parse_dns_query(const uint8_t* data, size_t len, std::string* name, uint16_t* qtype);
// Builds the answer: every A query gets a documentation address, other types an empty NOERROR.
std::vector<uint8_t> build_dns_answer(const uint8_t* query, size_t len);
// A bounded, printable rendering of bytes for reports: bytes text, ASCII form (trace/bytes_text.h).
std::string printable_preview(const std::string& bytes, size_t max_len);

}  // namespace modelvet::sandbox
