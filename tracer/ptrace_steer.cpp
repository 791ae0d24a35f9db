#include "tracer/ptrace_steer.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/user.h>

#include <algorithm>
#include <cstring>

namespace modelvet::tracer {
namespace {

constexpr uint64_t kRedZone = 128;   // x86_64 ABI: below the stack pointer, the function's own
constexpr uint64_t kScratch = 256;   // room for a sockaddr_in6 and a msghdr

bool poke(pid_t tid, uint64_t addr, const void* data, size_t len) {
  for (size_t off = 0; off < len; off += sizeof(long)) {
    long word = 0;
    memcpy(&word, static_cast<const char*>(data) + off, std::min(sizeof(long), len - off));
    if (ptrace(PTRACE_POKEDATA, tid, addr + off, word) != 0) return false;
  }
  return true;
}

// Points argument `arg` of the stopped call at a copy of `sa` (and, for sendmsg, at a copy of
// its msghdr naming that copy) in the scratch area below the red zone.
bool rewrite_destination(pid_t tid, int arg, const sockaddr_storage& sa, socklen_t len, const msghdr* msg) {
#if defined(__x86_64__)
  user_regs_struct regs{};
  if (ptrace(PTRACE_GETREGS, tid, nullptr, &regs) != 0) return false;
  const uint64_t scratch = (regs.rsp - kRedZone - kScratch) & ~uint64_t(15);
  if (!poke(tid, scratch, &sa, len)) return false;
  uint64_t pointer = scratch;
  if (msg) {
    msghdr copy = *msg;
    copy.msg_name = reinterpret_cast<void*>(scratch);
    pointer = scratch + 128;
    if (!poke(tid, pointer, &copy, sizeof copy)) return false;
  }
  // x86-64 syscall arguments: rdi, rsi, rdx, r10, r8, r9 (sendto's dest_addr is the fifth).
  if (arg == 1) regs.rsi = pointer;
  else if (arg == 4) regs.r8 = pointer;
  else return false;
  return ptrace(PTRACE_SETREGS, tid, nullptr, &regs) == 0;
#else
  (void)tid, (void)arg, (void)sa, (void)len, (void)msg;
  return false;  // recorded, not steered
#endif
}

}  // namespace

std::optional<mv_redirect_rec> steer_destination(pid_t tid, pid_t tgid, const TracedCall& call,
                                                 const RedirectTarget& target) {
  TraceeMemory mem(tid);
  uint64_t addr = 0, len = 0;
  int arg = 0;
  msghdr msg{};
  bool is_connect = call.nr == __NR_connect;
  switch (call.nr) {
    case __NR_connect: addr = call.args[1], len = call.args[2], arg = 1; break;
    case __NR_sendto: addr = call.args[4], len = call.args[5], arg = 4; break;
    case __NR_sendmsg:
      if (!mem.read(call.args[1], &msg, sizeof msg)) return std::nullopt;
      addr = reinterpret_cast<uint64_t>(msg.msg_name), len = msg.msg_namelen, arg = 1;
      break;
    default: return std::nullopt;
  }
  sockaddr_storage sa{};
  len = std::min<uint64_t>(len, sizeof sa);
  if (addr == 0 || len < sizeof(sockaddr_in) || !mem.read(addr, &sa, len)) return std::nullopt;
  if (sa.ss_family != AF_INET && !(sa.ss_family == AF_INET6 && len >= sizeof(sockaddr_in6))) return std::nullopt;
  int protocol = tracee_socket_option(tgid, call.args[0], SO_PROTOCOL);
  // The hooks see TCP and UDP connects, and UDP datagrams sent to an address.
  if (protocol != IPPROTO_TCP && protocol != IPPROTO_UDP) return std::nullopt;
  if (!is_connect && protocol != IPPROTO_UDP) return std::nullopt;

  mv_redirect_rec rec{};
  // The socket's identity, as the cgroup hooks record it: the fake network names the same cookie.
  if (!tracee_getsockopt(tgid, call.args[0], SO_COOKIE, &rec.sock_cookie, sizeof rec.sock_cookie)) rec.sock_cookie = 0;
  rec.family = sa.ss_family;
  rec.protocol = protocol;
  const uint16_t port = protocol == IPPROTO_TCP ? target.tcp_port : target.udp_port;
  bool already_there = false;
  if (sa.ss_family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&sa);
    rec.hook = is_connect ? MV_HOOK_CONNECT4 : MV_HOOK_SENDMSG4;
    rec.orig_ip4 = in->sin_addr.s_addr;
    rec.orig_port = ntohs(in->sin_port);
    already_there = in->sin_addr.s_addr == htonl(INADDR_LOOPBACK) && rec.orig_port == port;
    in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    in->sin_port = htons(port);
  } else {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&sa);
    rec.hook = is_connect ? MV_HOOK_CONNECT6 : MV_HOOK_SENDMSG6;
    memcpy(rec.orig_ip6, &in6->sin6_addr, sizeof rec.orig_ip6);
    rec.orig_port = ntohs(in6->sin6_port);
    // IPv4-mapped destinations go to ::ffff:127.0.0.1, other IPv6 to ::1, as the hook does.
    in6_addr loopback = in6addr_loopback;
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
      memset(&loopback, 0, sizeof loopback);
      loopback.s6_addr[10] = loopback.s6_addr[11] = 0xff;
      loopback.s6_addr[12] = 127, loopback.s6_addr[15] = 1;
    }
    already_there = memcmp(&in6->sin6_addr, &loopback, sizeof loopback) == 0 && rec.orig_port == port;
    in6->sin6_addr = loopback;
    in6->sin6_port = htons(port);
    in6->sin6_scope_id = 0;
  }
  if (port && !already_there &&
      rewrite_destination(tid, arg, sa, static_cast<socklen_t>(len), call.nr == __NR_sendmsg ? &msg : nullptr)) {
    rec.new_port = port;
    rec.redirected = 1;
  }
  return rec;
}

}  // namespace modelvet::tracer
