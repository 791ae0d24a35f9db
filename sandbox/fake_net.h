#pragma once
// The jail's fake network: services that live inside the jail's own network namespace and
// answer everything the sample tries to reach. The tracer's cgroup hooks steer every outbound
// TCP connection and UDP datagram here (recording where it was meant to go); these services
// record what was sent. Nothing leaves the namespace: besides lo it has one sink device.
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <array>
#include <string>
#include <thread>
#include <vector>

#include "trace/event.h"

namespace modelvet::sandbox {

inline constexpr uint16_t kFakeDnsPort = 53;     // resolv.conf names 127.0.0.1; queries to any other address are steered here
inline constexpr size_t kMaxRecordedBytes = 64 * 1024;

// The jail's network card, as a workstation's would look: a wired NIC with a Dell OUI (the low
// three bytes of its MAC are random per jail), a private address and a default route through a
// gateway, as a DHCP client leaves them. The device is a sink: `dummy`, or `ifb` where the kernel
// has no dummy driver (both free every locally sent packet; neither has a peer). Nothing sent
// through it leaves the namespace: the tracer's hooks steer connects to the fake network first,
// and what is not steered (no tracer attached) is dropped by the device.
inline constexpr const char* kJailNic = "enp3s0";
inline constexpr uint8_t kJailNicOui[3] = {0xb8, 0xca, 0x3a};       // Dell Inc.
inline constexpr const char* kJailAddress = "10.23.140.57";        // /24, not the host's networks
inline constexpr int kJailPrefix = 24;
inline constexpr const char* kJailGateway = "10.23.140.1";

// One network device of a namespace, as rtnetlink reports it from inside.
struct NetLink {
  int index = 0;
  std::string name;
  std::string kind;            // IFLA_INFO_KIND: "dummy", "veth", "vxlan"...; empty for lo and real NICs
  unsigned flags = 0;          // IFF_*
  int link = 0;                // IFLA_LINK: a veth's peer, a macvlan's or tunnel's lower device (0: none)
  bool link_elsewhere = false; // IFLA_LINK_NETNSID: that device is in another namespace
  int master = 0;              // IFLA_MASTER (a bridge or bond port)
};
// Kinds that can only drop what is sent through them: no peer, no lower device, no socket.
bool is_sink_kind(const std::string& kind);

// What a network namespace can reach: used to prove a jail has no route out before detonating.
struct NetnsView {
  uint64_t inode = 0;
  std::vector<std::string> interfaces;   // from /proc/<pid>/net/dev, in its order
  std::vector<NetLink> links;            // from an rtnetlink dump inside the namespace
  int ipv4_routes = 0;                   // main-table routes (/proc/<pid>/net/route)
  int ipv6_routes = 0;                   // non-loopback IPv6 routes (/proc/<pid>/net/ipv6_route)
  int stray_routes = 0;                  // routes of any table and family that leave by a device that is
                                         // neither lo nor a sink, by several nexthops, or by a nexthop object
  bool dumped = false;                   // the rtnetlink dump was complete
  // Only lo and sink devices (the same set /proc shows), every route through one of them.
  bool isolated() const;
};
// The namespace of process `pid`: names and route counts read through /proc/<pid>/net (no
// setns), and device kinds and every route from an rtnetlink dump made by a short-lived child
// that joins the namespace (first its user namespace when rootless, which the caller owns).
NetnsView inspect_netns_of(int pid, std::string* error);
// Exposed for unit tests: fills links and stray_routes from the raw bytes of RTM_GETLINK and
// RTM_GETROUTE dumps (a sequence of netlink messages). False when the bytes are malformed.
bool parse_rtnetlink_dump(const std::string& bytes, NetnsView* view);

// In the calling process's fresh network namespace (it needs CAP_NET_ADMIN there), before any
// jail process exists: lo up; the sink NIC with its address, up; the default route through it.
bool configure_jail_network(std::string* error);

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
// Builds the answer: NXDOMAIN for a name that looks_generated, as a real resolver answers a name
// nobody registered (a fake one that resolves `xq7kz93bfw.com` is a sandbox tell); otherwise an
// A query gets fake_address_for(name), other types an empty NOERROR. The query is recorded
// either way, and a DNS query from the loaded code is evidence on its own.
std::vector<uint8_t> build_dns_answer(const uint8_t* query, size_t len);
// The name's first label looks machine-made, not like a service's: a long hex blob, letters and
// digits shuffled together (3+ of each in 8+ characters), or 10+ letters nobody could say (under
// a quarter vowels, or 5 consonants in a row).
bool looks_generated(const std::string& name);
// The address the fake DNS gives a name: stable for the name (case-insensitive), different across
// names, and inside public unicast /8s that real services use, never a private, reserved or
// documentation range: one fixed answer for every name, or a TEST-NET one, tells a payload it
// is in a sandbox. Wherever it points, the connect hooks steer the connection to the fake
// network, and without them the jail's sink NIC drops it.
std::array<uint8_t, 4> fake_address_for(const std::string& name);
// A bounded, printable rendering of bytes for reports: bytes text, ASCII form (trace/bytes_text.h).
std::string printable_preview(const std::string& bytes, size_t max_len);

}  // namespace modelvet::sandbox
