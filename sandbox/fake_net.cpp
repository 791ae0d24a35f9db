#include "sandbox/fake_net.h"

#include "sandbox/sock_identity.h"
#include "trace/bytes_text.h"

#include <cstring>
#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

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

std::vector<uint8_t> build_dns_answer(const uint8_t* q, size_t len) {
  std::string name;
  uint16_t qtype = 0;
  if (!parse_dns_query(q, len, &name, &qtype)) return {};
  size_t question_end = 12;
  while (q[question_end] != 0) question_end += q[question_end] + 1;
  question_end += 5;  // terminating zero, qtype, qclass
  std::vector<uint8_t> r(q, q + question_end);
  r[2] = 0x81;  // response, recursion desired
  r[3] = 0x80;  // recursion available, NOERROR
  r[6] = 0, r[7] = (qtype == 1) ? 1 : 0;  // one answer for A
  r[8] = r[9] = r[10] = r[11] = 0;
  if (qtype == 1) {
    // 198.51.100.7 (TEST-NET-2): steered to the fake TCP service by the connect hook anyway.
    const uint8_t answer[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 198, 51, 100, 7};
    r.insert(r.end(), answer, answer + sizeof answer);
  }
  return r;
}

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
  if (view.interfaces.empty()) *error = fmt::format("cannot read {}/net/dev", proc);
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
