#include "sandbox/fake_net.h"

#include "process/helper_mode.h"
#include "sandbox/fd_passing.h"
#include "sandbox/sock_identity.h"
#include "trace/bytes_text.h"

#include <cctype>
#include <cstring>
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <thread>

#include <fmt/core.h>

namespace modelvet::sandbox {
namespace {

uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
}

constexpr int kIdleCloseMs = 400;         // a silent peer (reverse shell waiting for orders) gets EOF
constexpr size_t kMaxConnections = 256;   // per jail, bounded work whatever the sample does
constexpr const char* kHttpReply = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";

bool bring_loopback_up(std::string* error) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ifreq ifr{};
  strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  bool ok = fd >= 0 && ioctl(fd, SIOCGIFFLAGS, &ifr) == 0;
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  ok = ok && ioctl(fd, SIOCSIFFLAGS, &ifr) == 0;
  if (!ok) *error = fmt::format("bring lo up: {}", strerror(errno));
  if (fd >= 0) close(fd);
  return ok;
}

// A dual-stack socket on [::]:port so steered IPv4 (as mapped) and IPv6 traffic both arrive.
int bind_socket(int type, uint16_t port, std::string* error) {
  int fd = socket(AF_INET6, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    *error = fmt::format("socket: {}", strerror(errno));
    return -1;
  }
  int zero = 0, one = 1;
  setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_addr = in6addr_any;
  addr.sin6_port = htons(port);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      (type == SOCK_STREAM && listen(fd, 64) != 0)) {
    *error = fmt::format("bind fake {} port {}: {}", type == SOCK_STREAM ? "tcp" : "udp", port, strerror(errno));
    close(fd);
    return -1;
  }
  return fd;
}

uint16_t bound_port(int fd) {
  sockaddr_in6 addr{};
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  return ntohs(addr.sin6_port);
}

std::string address_text(const sockaddr_in6& a) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (IN6_IS_ADDR_V4MAPPED(&a.sin6_addr)) {
    inet_ntop(AF_INET, &a.sin6_addr.s6_addr[12], buf, sizeof buf);
  } else {
    inet_ntop(AF_INET6, &a.sin6_addr, buf, sizeof buf);
  }
  return buf;
}

struct Connection {
  std::string peer;
  std::string data;
  uint64_t opened_ns = 0;
  std::chrono::steady_clock::time_point last_activity;
  uint64_t sock = 0;  // the jail's connecting socket (its cookie), 0 when unidentified
  uint16_t peer_port = 0;
  bool replied = false;
};

bool looks_like_http(const std::string& data) {
  for (const char* m : {"GET ", "POST ", "PUT ", "HEAD ", "DELETE ", "PATCH ", "OPTIONS ", "CONNECT "})
    if (data.rfind(m, 0) == 0) return true;
  return false;
}

}  // namespace

// Bytes text in its ASCII form (trace/bytes_text.h): exact, `\\` escaped, never cut inside an escape.
std::string printable_preview(const std::string& bytes, size_t max_len) { return escape_ascii_prefix(bytes, max_len); }

bool parse_dns_query(const uint8_t* d, size_t len, std::string* name, uint16_t* qtype) {
  if (len < 12) return false;
  uint16_t flags = (d[2] << 8) | d[3];
  uint16_t qdcount = (d[4] << 8) | d[5];
  if ((flags & 0x8000) || qdcount == 0) return false;  // a response, or no question
  size_t pos = 12;
  name->clear();
  for (int labels = 0; pos < len && labels < 128; ++labels) {
    uint8_t l = d[pos++];
    if (l == 0) break;
    if (l > 63 || pos + l > len) return false;
    if (!name->empty()) *name += '.';
    name->append(reinterpret_cast<const char*>(d + pos), l);
    pos += l;
  }
  if (pos + 4 > len) return false;
  *qtype = (d[pos] << 8) | d[pos + 1];
  return true;
}

bool looks_generated(const std::string& name) {
  const std::string label = name.substr(0, name.find('.'));
  size_t digits = 0, letters = 0, vowels = 0, run = 0, longest_run = 0;
  bool hex_only = true;
  for (unsigned char c : label) {
    const int lower = std::tolower(c);
    const bool digit = std::isdigit(c) != 0, letter = std::isalpha(c) != 0;
    const bool vowel = letter && std::strchr("aeiouy", lower) != nullptr;
    digits += digit, letters += letter, vowels += vowel;
    hex_only &= std::isxdigit(c) != 0;
    run = (letter && !vowel) ? run + 1 : 0;
    longest_run = std::max(longest_run, run);
  }
  const size_t n = label.size();
  if (n >= 16 && hex_only) return true;                     // a hex blob: a hash, encoded bytes
  if (n >= 8 && digits >= 3 && letters >= 3) return true;   // letters and digits shuffled
  if (n >= 10 && letters == n && (vowels * 4 < n || longest_run >= 5)) return true;  // unpronounceable
  return false;
}

std::vector<uint8_t> build_dns_answer(const uint8_t* q, size_t len) {
  std::string name;
  uint16_t qtype = 0;
  if (!parse_dns_query(q, len, &name, &qtype)) return {};
  size_t question_end = 12;
  while (q[question_end] != 0) question_end += q[question_end] + 1;
  question_end += 5;  // terminating zero, qtype, qclass
  std::vector<uint8_t> r(q, q + question_end);
  const bool nxdomain = looks_generated(name);
  r[2] = 0x81;  // response, recursion desired
  r[3] = nxdomain ? 0x83 : 0x80;  // recursion available, NXDOMAIN or NOERROR
  r[6] = 0, r[7] = (qtype == 1 && !nxdomain) ? 1 : 0;  // one answer for A
  r[8] = r[9] = r[10] = r[11] = 0;
  if (qtype == 1 && !nxdomain) {
    const auto addr = fake_address_for(name);
    const uint8_t answer[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, addr[0], addr[1], addr[2], addr[3]};
    r.insert(r.end(), answer, answer + sizeof answer);
  }
  return r;
}

std::array<uint8_t, 4> fake_address_for(const std::string& name) {
  // Public unicast /8s of clouds, CDNs and ISPs (none private, CGNAT, multicast or TEST-NET).
  static constexpr uint8_t kFirstOctets[] = {13, 18, 23, 34, 35, 44, 52, 54, 63, 64, 65, 66, 69, 72, 74,
                                             76, 91, 93, 95, 104, 107, 142, 151, 157, 162, 185, 199, 205, 216};
  uint64_t h = 1469598103934665603ull;  // FNV-1a over the lower-cased name
  for (unsigned char c : name) h = (h ^ uint64_t(std::tolower(c))) * 1099511628211ull;
  h ^= h >> 29;
  std::array<uint8_t, 4> a{kFirstOctets[h % sizeof kFirstOctets], uint8_t(h >> 8), uint8_t(h >> 16), uint8_t(h >> 24)};
  a[3] = uint8_t(1 + a[3] % 253);  // never .0 or .255
  return a;
}

// --- the jail's network card -----------------------------------------------------------------

namespace {

// One rtnetlink request with its attributes, built in place.
class NlRequest {
 public:
  NlRequest(uint16_t type, uint16_t flags, const void* body, size_t len) {
    buf_.resize(NLMSG_LENGTH(len));
    auto* h = header();
    h->nlmsg_type = type;
    h->nlmsg_flags = NLM_F_REQUEST | flags;
    memcpy(NLMSG_DATA(h), body, len);
    h->nlmsg_len = uint32_t(buf_.size());
  }
  void attr(uint16_t type, const void* data, size_t len) {
    size_t at = NLMSG_ALIGN(buf_.size());
    buf_.resize(at + RTA_SPACE(len));
    auto* rta = reinterpret_cast<rtattr*>(buf_.data() + at);
    rta->rta_type = type;
    rta->rta_len = uint16_t(RTA_LENGTH(len));
    if (len) memcpy(RTA_DATA(rta), data, len);
    header()->nlmsg_len = uint32_t(buf_.size());
  }
  void attr_str(uint16_t type, const char* s) { attr(type, s, strlen(s) + 1); }
  size_t begin_nest(uint16_t type) {
    size_t at = NLMSG_ALIGN(buf_.size());
    attr(type, nullptr, 0);
    return at;
  }
  void end_nest(size_t at) { reinterpret_cast<rtattr*>(buf_.data() + at)->rta_len = uint16_t(buf_.size() - at); }
  nlmsghdr* header() { return reinterpret_cast<nlmsghdr*>(buf_.data()); }

 private:
  std::vector<char> buf_;
};

// Sends one request and waits for its acknowledgement: 0, or the kernel's errno.
int rtnl_call(int fd, NlRequest& req) {
  static uint32_t seq = 0;
  nlmsghdr* h = req.header();
  h->nlmsg_flags |= NLM_F_ACK;
  h->nlmsg_seq = ++seq;
  if (send(fd, h, h->nlmsg_len, 0) < 0) return errno;
  char buf[8192];
  while (true) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    for (auto* m = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(m, size_t(n)); m = NLMSG_NEXT(m, n)) {
      if (m->nlmsg_seq != h->nlmsg_seq || m->nlmsg_type != NLMSG_ERROR) continue;
      return -reinterpret_cast<nlmsgerr*>(NLMSG_DATA(m))->error;
    }
  }
}

bool parse_ipv4(const char* text, in_addr* out) { return inet_pton(AF_INET, text, out) == 1; }

}  // namespace

bool is_sink_kind(const std::string& kind) { return kind == "dummy" || kind == "ifb"; }

bool configure_jail_network(std::string* error) {
  if (!bring_loopback_up(error)) return false;
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) {
    *error = fmt::format("rtnetlink: {}", strerror(errno));
    return false;
  }
  auto fail = [&](const char* what, int err) {
    *error = fmt::format("{} {}: {}", what, kJailNic, strerror(err));
    close(fd);
    return false;
  };
  uint8_t mac[6] = {kJailNicOui[0], kJailNicOui[1], kJailNicOui[2], 0, 0, 0};
  if (getrandom(mac + 3, 3, 0) != 3) return fail("random MAC for", errno);
  // Created as a sink: dummy, else ifb (kernels built without the dummy driver have it).
  int err = EOPNOTSUPP;
  for (const char* kind : {"dummy", "ifb"}) {
    ifinfomsg ifi{};
    ifi.ifi_family = AF_UNSPEC;
    NlRequest req(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifi, sizeof ifi);
    req.attr_str(IFLA_IFNAME, kJailNic);
    req.attr(IFLA_ADDRESS, mac, sizeof mac);
    uint32_t txqlen = 1000, mtu = 1500;
    req.attr(IFLA_TXQLEN, &txqlen, sizeof txqlen);
    req.attr(IFLA_MTU, &mtu, sizeof mtu);
    size_t info = req.begin_nest(IFLA_LINKINFO);
    req.attr_str(IFLA_INFO_KIND, kind);
    req.end_nest(info);
    err = rtnl_call(fd, req);
    if (err != EOPNOTSUPP) break;
  }
  if (err != 0) return fail("create", err);
  const int index = int(if_nametoindex(kJailNic));
  if (index <= 0) return fail("index of", errno);
  {  // up, and flagged as an Ethernet card is (ARP, multicast), not as a dummy (NOARP)
    ifinfomsg ifi{};
    ifi.ifi_family = AF_UNSPEC;
    ifi.ifi_index = index;
    ifi.ifi_flags = IFF_UP | IFF_MULTICAST;
    ifi.ifi_change = IFF_UP | IFF_MULTICAST | IFF_NOARP;
    NlRequest req(RTM_NEWLINK, 0, &ifi, sizeof ifi);
    if ((err = rtnl_call(fd, req)) != 0) return fail("bring up", err);
  }
  {  // operstate "up" as a NIC with a carrier reports it (a sink stays "unknown" otherwise)
    ifinfomsg ifi{};
    ifi.ifi_family = AF_UNSPEC;
    ifi.ifi_index = index;
    NlRequest req(RTM_NEWLINK, 0, &ifi, sizeof ifi);
    uint8_t up = 6;  // IF_OPER_UP (linux/if.h, which clashes with net/if.h)
    req.attr(IFLA_OPERSTATE, &up, sizeof up);
    if ((err = rtnl_call(fd, req)) != 0) return fail("operstate of", err);
  }
  in_addr local{}, gateway{}, broadcast{};
  if (!parse_ipv4(kJailAddress, &local) || !parse_ipv4(kJailGateway, &gateway)) return fail("address of", EINVAL);
  broadcast.s_addr = local.s_addr | htonl((1u << (32 - kJailPrefix)) - 1);
  {
    ifaddrmsg ifa{};
    ifa.ifa_family = AF_INET;
    ifa.ifa_prefixlen = kJailPrefix;
    ifa.ifa_scope = RT_SCOPE_UNIVERSE;
    ifa.ifa_index = uint32_t(index);
    NlRequest req(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &ifa, sizeof ifa);
    req.attr(IFA_LOCAL, &local, sizeof local);
    req.attr(IFA_ADDRESS, &local, sizeof local);
    req.attr(IFA_BROADCAST, &broadcast, sizeof broadcast);
    if ((err = rtnl_call(fd, req)) != 0) return fail("address", err);
  }
  {  // default via the gateway, as a DHCP client (NetworkManager) installs it
    rtmsg rt{};
    rt.rtm_family = AF_INET;
    rt.rtm_table = RT_TABLE_MAIN;
    rt.rtm_protocol = RTPROT_DHCP;
    rt.rtm_scope = RT_SCOPE_UNIVERSE;
    rt.rtm_type = RTN_UNICAST;
    NlRequest req(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, &rt, sizeof rt);
    uint32_t oif = uint32_t(index), metric = 100;
    req.attr(RTA_GATEWAY, &gateway, sizeof gateway);
    req.attr(RTA_OIF, &oif, sizeof oif);
    req.attr(RTA_PRIORITY, &metric, sizeof metric);
    req.attr(RTA_PREFSRC, &local, sizeof local);
    if ((err = rtnl_call(fd, req)) != 0) return fail("default route via", err);
  }
  {  // the gateway in the ARP cache (stale: seen a while ago), as on any host of a LAN
    ndmsg nd{};
    nd.ndm_family = AF_INET;
    nd.ndm_ifindex = index;
    nd.ndm_state = NUD_STALE;
    uint8_t router[6] = {0x00, 0x1a, 0xa1, 0, 0, 0};  // Cisco Systems
    if (getrandom(router + 3, 3, 0) != 3) return fail("random gateway MAC for", errno);
    NlRequest req(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, &nd, sizeof nd);
    req.attr(NDA_DST, &gateway, sizeof gateway);
    req.attr(NDA_LLADDR, router, sizeof router);
    if ((err = rtnl_call(fd, req)) != 0) return fail("gateway neighbour on", err);
  }
  close(fd);
  return true;
}

// --- the isolation proof -----------------------------------------------------------------------

bool NetnsView::isolated() const {
  if (!dumped || links.empty() || stray_routes != 0) return false;
  std::vector<std::string> names;
  int loopbacks = 0;
  for (const NetLink& l : links) {
    names.push_back(l.name);
    if (l.flags & IFF_LOOPBACK) {
      // The namespace's own lo: no kind, index 1 in every namespace.
      if (l.name != "lo" || !l.kind.empty() || l.index != 1 || l.link_elsewhere || l.master) return false;
      ++loopbacks;
      continue;
    }
    // A sink: no peer or lower device (IFLA_LINK is the device itself or absent), no master.
    if (!is_sink_kind(l.kind) || (l.link != 0 && l.link != l.index) || l.link_elsewhere || l.master) return false;
  }
  // /proc's list is the same set: the dump and the proc files saw one namespace.
  std::vector<std::string> proc = interfaces;
  std::sort(names.begin(), names.end());
  std::sort(proc.begin(), proc.end());
  return loopbacks == 1 && names == proc;
}

namespace {
// Each attribute in [attrs, attrs + len), checked against what is left before it is read (the
// RTA_OK/RTA_NEXT macros on a size_t length wrap around past an unaligned last attribute).
void for_each_attr(const char* attrs, size_t len, const std::function<void(uint16_t, const char*, size_t)>& each) {
  for (size_t off = 0; off + sizeof(rtattr) <= len;) {
    rtattr a;
    memcpy(&a, attrs + off, sizeof a);
    if (a.rta_len < sizeof(rtattr) || a.rta_len > len - off) return;
    each(a.rta_type, attrs + off + RTA_LENGTH(0), a.rta_len - RTA_LENGTH(0));
    off += RTA_ALIGN(a.rta_len);
  }
}
}  // namespace

bool parse_rtnetlink_dump(const std::string& bytes, NetnsView* view) {
  view->links.clear();
  view->stray_routes = 0;
  struct Route { int oif = 0; bool multi = false; int type = 0; };
  std::vector<Route> routes;
  size_t at = 0;
  int done = 0;
  while (at + sizeof(nlmsghdr) <= bytes.size()) {
    nlmsghdr h;
    memcpy(&h, bytes.data() + at, sizeof h);
    if (h.nlmsg_len < sizeof(nlmsghdr) || at + h.nlmsg_len > bytes.size()) return false;
    const char* body = bytes.data() + at + NLMSG_HDRLEN;
    const size_t body_len = h.nlmsg_len - NLMSG_HDRLEN;
    if (h.nlmsg_type == NLMSG_DONE) {
      ++done;
    } else if (h.nlmsg_type == NLMSG_ERROR) {
      // Ends a dump too: a kernel without IPv6 refuses that family's, which holds no route then.
      nlmsgerr e{};
      if (body_len < sizeof e) return false;
      memcpy(&e, body, sizeof e);
      if (e.error != -EAFNOSUPPORT) return false;
      ++done;
    } else if (h.nlmsg_type == RTM_NEWLINK && body_len >= sizeof(ifinfomsg)) {
      ifinfomsg ifi;
      memcpy(&ifi, body, sizeof ifi);
      NetLink l;
      l.index = ifi.ifi_index;
      l.flags = ifi.ifi_flags;
      for_each_attr(body + NLMSG_ALIGN(sizeof ifi), body_len - NLMSG_ALIGN(sizeof ifi), [&](uint16_t type, const char* data, size_t len) {
        int32_t v = 0;
        if (len >= 4) memcpy(&v, data, 4);
        switch (type) {
          case IFLA_IFNAME: l.name.assign(data, strnlen(data, len)); break;
          case IFLA_LINK: l.link = v; break;
          case IFLA_LINK_NETNSID: l.link_elsewhere = true; break;
          case IFLA_MASTER: l.master = v; break;
          case IFLA_LINKINFO:
            for_each_attr(data, len, [&](uint16_t info, const char* kind, size_t klen) {
              if (info == IFLA_INFO_KIND) l.kind.assign(kind, strnlen(kind, klen));
            });
            break;
        }
      });
      view->links.push_back(l);
    } else if (h.nlmsg_type == RTM_NEWROUTE && body_len >= sizeof(rtmsg)) {
      rtmsg rt;
      memcpy(&rt, body, sizeof rt);
      Route r;
      r.type = rt.rtm_type;
      for_each_attr(body + NLMSG_ALIGN(sizeof rt), body_len - NLMSG_ALIGN(sizeof rt), [&](uint16_t type, const char* data, size_t len) {
        if (type == RTA_OIF && len >= 4) memcpy(&r.oif, data, 4);
        if (type == RTA_MULTIPATH || type == RTA_NH_ID) r.multi = true;
      });
      routes.push_back(r);
    }
    at += NLMSG_ALIGN(h.nlmsg_len);
  }
  // Every route either goes nowhere (blackhole, unreachable, prohibit) or leaves by lo or a sink.
  for (const Route& r : routes) {
    if (r.type == RTN_BLACKHOLE || r.type == RTN_UNREACHABLE || r.type == RTN_PROHIBIT) continue;
    bool contained = false;
    for (const NetLink& l : view->links)
      contained |= l.index == r.oif && ((l.flags & IFF_LOOPBACK) || is_sink_kind(l.kind));
    if (r.multi || !contained) ++view->stray_routes;
  }
  view->dumped = done == 3;  // links, IPv4 routes, IPv6 routes
  return true;
}

namespace {

constexpr const char* kNetlinkSocketMode = "__netlink-socket";
constexpr int kNetlinkReplyTimeoutMs = 5000;
constexpr size_t kMaxDumpBytes = 4 << 20;

// Links, IPv4 and IPv6 routes, dumped over a NETLINK_ROUTE socket made in the namespace
// inspected; false if a request or an answer failed (each answer waits at most 2 s).
bool dump_over(int fd, std::string* bytes) {
  timeval tv{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  struct {
    nlmsghdr h;
    union {  // RTM_GETLINK sends an ifinfomsg (16 bytes), RTM_GETROUTE an rtmsg (12)
      ifinfomsg link;
      rtmsg route;
    } body;
  } req;
  const struct { uint16_t type; uint8_t family; } dumps[] = {{RTM_GETLINK, AF_UNSPEC}, {RTM_GETROUTE, AF_INET}, {RTM_GETROUTE, AF_INET6}};
  std::vector<char> buf(32768);
  uint32_t seq = 0;
  for (const auto& d : dumps) {
    memset(&req, 0, sizeof req);
    req.h.nlmsg_len = NLMSG_LENGTH(d.type == RTM_GETLINK ? sizeof(ifinfomsg) : sizeof(rtmsg));
    req.h.nlmsg_type = d.type;
    req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    req.h.nlmsg_seq = ++seq;
    if (d.type == RTM_GETLINK) req.body.link.ifi_family = d.family;
    else req.body.route.rtm_family = d.family;
    if (send(fd, &req, req.h.nlmsg_len, 0) < 0) return false;
    for (bool finished = false; !finished;) {
      ssize_t n = recv(fd, buf.data(), buf.size(), 0);
      if (n <= 0 || bytes->size() > kMaxDumpBytes) return false;
      for (auto* m = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(m, size_t(n)); m = NLMSG_NEXT(m, n)) {
        bytes->append(reinterpret_cast<char*>(m), NLMSG_ALIGN(m->nlmsg_len));
        finished |= m->nlmsg_type == NLMSG_DONE || m->nlmsg_type == NLMSG_ERROR;
      }
    }
  }
  return true;
}

// The exec'd helper (rootless): joins the jail's user namespace (fd 4) and network namespace
// (fd 3), makes the socket and sends it back on fd 5.
int run_netlink_socket_helper(int argc, char** argv) {
  if (argc != 3) return 2;
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != std::atoi(argv[2])) return 3;  // the requester is gone
  if (setns(4, CLONE_NEWUSER) != 0 || setns(3, CLONE_NEWNET) != 0) return 4;
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  return fd >= 0 && send_fds(5, {fd}, "ok") ? 0 : 5;
}

const process::HelperMode kNetlinkSocket{kNetlinkSocketMode, run_netlink_socket_helper};

// A NETLINK_ROUTE socket in the namespace of `netns`, or -1. A socket keeps the namespace it
// was made in, so nothing else has to enter it. Where the namespace is in this process's user
// namespace (root), a thread of its own joins it, makes the socket and ends: a network
// namespace is per thread, and no thread of the supervisor is ever left in a jail's (nor is a
// threaded process forked). Rootless, joining it needs the jail's user namespace first, which a
// threaded process cannot join: an exec'd helper makes the socket and passes it back.
int netlink_socket_in(int userns, int netns, std::string* error) {
  int made = -1, err = 0;
  if (userns < 0) {
    std::thread([&] {
      if (setns(netns, CLONE_NEWNET) != 0) {
        err = errno;
        return;
      }
      made = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
      if (made < 0) err = errno;
    }).join();
    if (made < 0) *error = fmt::format("netlink socket in the jail's namespace: {}", strerror(err));
    return made;
  }
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    *error = fmt::format("socketpair: {}", strerror(errno));
    return -1;
  }
  process::HelperSpawn spawn{"modelvet", kNetlinkSocketMode, {std::to_string(getpid())}, {netns, userns, sv[1]}, true};
  const pid_t helper = process::spawn_helper(spawn, error);
  close(sv[1]);
  std::vector<int> fds;
  std::string text;
  if (helper > 0 && (!receive_fds(sv[0], 1, kNetlinkReplyTimeoutMs, &fds, &text) || fds.size() != 1)) {
    for (int fd : fds) close(fd);
    fds.clear();
    kill(helper, SIGKILL);
  }
  close(sv[0]);
  int status = 0;
  if (helper > 0)
    while (waitpid(helper, &status, 0) < 0 && errno == EINTR) {
    }
  if (helper > 0 && fds.empty()) *error = fmt::format("netlink socket helper ended with status {:#x}", status);
  return fds.empty() ? -1 : fds[0];
}

// Links and routes of pid's network namespace, dumped over a socket made inside it (checked
// to be the namespace inspected through /proc, not a recycled pid's). Rootless, the namespace
// belongs to the jail's user namespace, which the caller created and may join.
bool dump_rtnetlink_of(int pid, uint64_t netns_inode, std::string* bytes, std::string* error) {
  const std::string proc = fmt::format("/proc/{}", pid);
  struct stat own{}, theirs{}, opened{};
  if (stat("/proc/self/ns/user", &own) != 0 || stat((proc + "/ns/user").c_str(), &theirs) != 0) {
    *error = fmt::format("stat {}/ns/user: {}", proc, strerror(errno));
    return false;
  }
  int userns = own.st_ino != theirs.st_ino ? open((proc + "/ns/user").c_str(), O_RDONLY | O_CLOEXEC) : -1;
  int netns = open((proc + "/ns/net").c_str(), O_RDONLY | O_CLOEXEC);
  int nl = -1;
  if (netns < 0 || fstat(netns, &opened) != 0 || opened.st_ino != netns_inode || (own.st_ino != theirs.st_ino && userns < 0))
    *error = fmt::format("rtnetlink dump of {}: {}", proc, strerror(errno));
  else
    nl = netlink_socket_in(userns, netns, error);
  for (int fd : {userns, netns})
    if (fd >= 0) close(fd);
  if (nl < 0) return false;
  const bool ok = dump_over(nl, bytes);
  close(nl);
  if (!ok) *error = fmt::format("rtnetlink dump of {}: no complete answer", proc);
  return ok;
}

}  // namespace

NetnsView inspect_netns_of(int pid, std::string* error) {
  NetnsView view;
  const std::string proc = fmt::format("/proc/{}", pid);
  struct stat st{};
  if (stat((proc + "/ns/net").c_str(), &st) != 0) {
    *error = fmt::format("stat {}/ns/net: {}", proc, strerror(errno));
    return view;
  }
  view.inode = st.st_ino;
  std::ifstream dev(proc + "/net/dev");
  std::string line;
  for (int n = 0; std::getline(dev, line); ++n) {
    if (n < 2) continue;  // two header lines
    auto colon = line.find(':');
    std::string ifname = line.substr(0, colon);
    ifname.erase(0, ifname.find_first_not_of(' '));
    view.interfaces.push_back(ifname);
  }
  std::ifstream route(proc + "/net/route");
  for (int n = 0; std::getline(route, line); ++n)
    if (n > 0 && !line.empty()) ++view.ipv4_routes;
  std::ifstream route6(proc + "/net/ipv6_route");
  while (std::getline(route6, line))
    if (line.find(" lo") == std::string::npos) ++view.ipv6_routes;
  // A namespace that vanished (or a file we could not read) must not pass as isolated.
  if (view.interfaces.empty()) {
    *error = fmt::format("cannot read {}/net/dev", proc);
    return view;
  }
  // Device kinds are known only to rtnetlink (/proc/net/dev names, sysfs is the mounter's
  // namespace and does not tell a veth from a dummy): the dump proves there is no veth, tunnel,
  // macvlan, tap or real NIC, and that no route leaves by one.
  std::string bytes;
  if (dump_rtnetlink_of(pid, view.inode, &bytes, error) && !parse_rtnetlink_dump(bytes, &view))
    *error = fmt::format("malformed rtnetlink dump of {}", proc);
  return view;
}

bool bind_fake_net_sockets(FakeNetSockets* sockets, std::string* error) {
  if (!bring_loopback_up(error)) return false;
  int tcp = bind_socket(SOCK_STREAM, 0, error);
  int udp = tcp >= 0 ? bind_socket(SOCK_DGRAM, kFakeDnsPort, error) : -1;
  if (tcp < 0 || udp < 0) {
    if (tcp >= 0) close(tcp);
    return false;
  }
  *sockets = FakeNetSockets{tcp, udp, open_sock_diag()};
  return true;
}

std::unique_ptr<FakeNetwork> FakeNetwork::serve(FakeNetSockets sockets, std::string* error) {
  std::unique_ptr<FakeNetwork> net(new FakeNetwork());
  net->tcp_fd_ = sockets.tcp;
  net->udp_fd_ = sockets.udp;
  net->diag_fd_ = sockets.diag;
  if (net->tcp_fd_ < 0 || net->udp_fd_ < 0) {
    *error = "fake network: no sockets";
    return nullptr;
  }
  net->tcp_port_ = bound_port(net->tcp_fd_);
  net->epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  net->wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (net->epoll_fd_ < 0 || net->wake_fd_ < 0) {
    *error = fmt::format("fake network: {}", strerror(errno));
    return nullptr;
  }
  for (int fd : {net->tcp_fd_, net->udp_fd_, net->wake_fd_}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    epoll_ctl(net->epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
  }
  net->thread_ = std::thread([n = net.get()] { n->run(); });
  return net;
}

FakeNetwork::~FakeNetwork() {
  stop();
  for (int fd : {tcp_fd_, udp_fd_, diag_fd_, epoll_fd_, wake_fd_})
    if (fd >= 0) close(fd);
}

Events FakeNetwork::stop() {
  stopping_ = true;
  uint64_t one = 1;
  if (wake_fd_ >= 0) (void)!write(wake_fd_, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> lock(mu_);
  return events_;
}

void FakeNetwork::record(Event e) {
  e.source = kSourceNet;
  std::lock_guard<std::mutex> lock(mu_);
  events_.push_back(std::move(e));
}

namespace {

// What one TCP connection sent, as the "http" or "tcp_connect" event the policy matches.
Event connection_event(const Connection& c, uint16_t port) {
  Event e;
  e.t_ns = c.opened_ns;
  bool http = looks_like_http(c.data);
  e.kind = http ? kinds::kHttp : kinds::kTcpConnect;
  e.data = {{"peer", c.peer}, {"port", port}, {"sent_bytes", c.data.size()},
            {"sent_preview", printable_preview(c.data, 256)},
            {"payload", printable_preview(c.data, kMaxRecordedBytes)}};
  if (c.sock) e.data["sock"] = c.sock;
  e.data["peer_port"] = c.peer_port;
  if (http) {
    std::istringstream req(c.data);
    std::string method, path, line;
    req >> method >> path;
    e.data["method"] = escape_bytes(method);
    e.data["path"] = escape_bytes(path);
    while (std::getline(req, line))
      if (line.rfind("Host:", 0) == 0 || line.rfind("host:", 0) == 0) e.data["host"] = escape_bytes(line.substr(6, line.find('\r') - 6));
  }
  return e;
}

// A bounded batch per wake-up, so a connect flood cannot starve DNS or the open connections.
void accept_connections(int tcp_fd, int epoll_fd, int diag_fd, std::map<int, Connection>& conns, size_t& accepted) {
  for (int k = 0; k < 16; ++k) {
    sockaddr_in6 peer{};
    socklen_t len = sizeof peer;
    int c = accept4(tcp_fd, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0) break;
    if (++accepted > kMaxConnections) {
      close(c);
      continue;
    }
    conns[c] = Connection{address_text(peer) + ":" + std::to_string(ntohs(peer.sin6_port)), "", 0,
                          std::chrono::steady_clock::now(), false};
    conns[c].opened_ns = now_ns();
    conns[c].sock = peer_socket_cookie(diag_fd, IPPROTO_TCP, peer, bound_port(tcp_fd));
    conns[c].peer_port = ntohs(peer.sin6_port);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.fd = c;
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, c, &ev);
  }
}

// DNS queries get an answer (so the sample goes on to connect); any other datagram is recorded.
void answer_datagrams(int udp_fd, int diag_fd, const std::function<void(Event)>& record) {
  for (int k = 0; k < 64; ++k) {
    uint8_t buf[4096];
    sockaddr_in6 peer{};
    socklen_t len = sizeof peer;
    ssize_t got = recvfrom(udp_fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&peer), &len);
    if (got <= 0) break;
    Event e;
    e.t_ns = now_ns();
    // Identified before answering: a resolver closes its socket as soon as it has the answer.
    uint64_t sock = peer_socket_cookie(diag_fd, IPPROTO_UDP, peer, kFakeDnsPort);
    std::string name;
    uint16_t qtype = 0;
    if (parse_dns_query(buf, got, &name, &qtype)) {
      e.kind = kinds::kDns;
      e.data = {{"name", escape_bytes(name)}, {"type", qtype == 1 ? "A" : qtype == 28 ? "AAAA" : std::to_string(qtype)}};
      auto answer = build_dns_answer(buf, got);
      sendto(udp_fd, answer.data(), answer.size(), 0, reinterpret_cast<sockaddr*>(&peer), len);
    } else {
      e.kind = kinds::kUdp;
      std::string bytes(reinterpret_cast<char*>(buf), got);
      e.data = {{"peer", address_text(peer)}, {"bytes", got}, {"preview", printable_preview(bytes, 256)},
                {"payload", printable_preview(bytes, 4096)}};
    }
    if (sock) e.data["sock"] = sock;
    e.data["peer_port"] = ntohs(peer.sin6_port);
    record(std::move(e));
  }
}

// Reads what a connection sent; an HTTP request gets its reply as soon as its headers are
// complete, so an exfiltrating POST sees success. False once the peer closed or failed.
bool read_connection(int fd, Connection& c, bool last_round) {
  char buf[8192];
  ssize_t got = read(fd, buf, sizeof buf);
  while (got > 0 && last_round && c.data.size() < kMaxRecordedBytes) {
    c.data.append(buf, got);
    got = read(fd, buf, sizeof buf);
  }
  if (got > 0) {
    c.data.append(buf, std::min<size_t>(got, kMaxRecordedBytes - std::min(kMaxRecordedBytes, c.data.size())));
    c.last_activity = std::chrono::steady_clock::now();
    if (!c.replied && looks_like_http(c.data) && c.data.find("\r\n\r\n") != std::string::npos) {
      (void)!write(fd, kHttpReply, strlen(kHttpReply));
      c.replied = true;
    }
    return true;
  }
  return !(got == 0 || (errno != EAGAIN && errno != EINTR));
}

}  // namespace

void FakeNetwork::run() {
  std::map<int, Connection> conns;
  size_t accepted = 0;
  auto finish = [&](int fd) {
    record(connection_event(conns[fd], tcp_port_));
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
    close(fd);
    conns.erase(fd);
  };
  const std::function<void(Event)> record_event = [this](Event e) { record(std::move(e)); };

  while (true) {
    // Once told to stop, the jail is already gone: one last non-blocking round drains what it sent.
    const bool last_round = stopping_;
    epoll_event events[16];
    int n = epoll_wait(epoll_fd_, events, 16, last_round ? 0 : 50);
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == wake_fd_) continue;
      if (fd == tcp_fd_) {
        accept_connections(tcp_fd_, epoll_fd_, diag_fd_, conns, accepted);
      } else if (fd == udp_fd_) {
        answer_datagrams(udp_fd_, diag_fd_, record_event);
      } else {
        auto it = conns.find(fd);
        if (it != conns.end() && !read_connection(fd, it->second, last_round)) finish(fd);
      }
    }
    // Close idle connections so a payload waiting for a reply moves on instead of hanging.
    auto now = std::chrono::steady_clock::now();
    std::vector<int> idle;
    for (auto& [fd, c] : conns)
      if (last_round || now - c.last_activity > std::chrono::milliseconds(kIdleCloseMs)) idle.push_back(fd);
    for (int fd : idle) finish(fd);
    if (last_round) break;
  }
}

}  // namespace modelvet::sandbox
