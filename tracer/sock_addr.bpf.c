/* The jail's outbound traffic, at the cgroup sock_addr hooks (attached to each jail's cgroup by
 * Tracer::watch): records the destination the sample asked for and, when the jail has fake
 * services, rewrites it to loopback so they receive the traffic inside the jail's netns.
 * IPv4-mapped IPv6 destinations go to ::ffff:127.0.0.1 (the IPv4 listener), other IPv6 to ::1. */
#include "tracer/common.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define MV_AF_INET 2
#define MV_AF_INET6 10
#define MV_IPPROTO_TCP 6
#define MV_IPPROTO_UDP 17
#define MV_LOOPBACK4 0x7f000001

static __always_inline __u16 redirect_port(const struct mv_watch *w, __u32 protocol) {
  if (protocol == MV_IPPROTO_TCP) return w->tcp_port;
  if (protocol == MV_IPPROTO_UDP) return w->udp_port;
  return 0;
}

/* A datagram's socket is bound before the sendmsg hooks run (a connect's is not yet): its port
 * names the socket to the fake network even when the sender closes it at once. */
static __always_inline __u16 source_port(struct bpf_sock_addr *ctx) {
  struct bpf_sock *sk = ctx->sk;
  return sk ? (__u16)sk->src_port : 0;
}

static __always_inline void report(const struct mv_jail *jail, struct mv_redirect_rec *rec) {
  fill_header(&rec->h, jail, MV_REC_NET_REDIRECT);
  emit(jail, MV_RING_HIGH, rec, sizeof(*rec));
}

static __always_inline int steer4(struct bpf_sock_addr *ctx, __u32 hook) {
  struct mv_jail jail;
  if (!current_jail(&jail)) return 1;
  struct mv_redirect_rec rec = {};
  rec.hook = hook;
  rec.sock_cookie = bpf_get_socket_cookie(ctx);
  rec.src_port = source_port(ctx);
  rec.family = MV_AF_INET;
  rec.protocol = ctx->protocol;
  rec.orig_ip4 = ctx->user_ip4;
  rec.orig_port = bpf_ntohs(ctx->user_port);
  __u16 port = redirect_port(jail.watch, rec.protocol);
  bool already_there = rec.orig_ip4 == bpf_htonl(MV_LOOPBACK4) && rec.orig_port == port;
  if (port && !already_there) {
    ctx->user_ip4 = bpf_htonl(MV_LOOPBACK4);
    ctx->user_port = bpf_htons(port);
    rec.new_port = port;
    rec.redirected = 1;
  }
  report(&jail, &rec);
  return 1;
}

static __always_inline int steer6(struct bpf_sock_addr *ctx, __u32 hook) {
  struct mv_jail jail;
  if (!current_jail(&jail)) return 1;
  struct mv_redirect_rec rec = {};
  rec.hook = hook;
  rec.sock_cookie = bpf_get_socket_cookie(ctx);
  rec.src_port = source_port(ctx);
  rec.family = MV_AF_INET6;
  rec.protocol = ctx->protocol;
  rec.orig_ip6[0] = ctx->user_ip6[0];
  rec.orig_ip6[1] = ctx->user_ip6[1];
  rec.orig_ip6[2] = ctx->user_ip6[2];
  rec.orig_ip6[3] = ctx->user_ip6[3];
  rec.orig_port = bpf_ntohs(ctx->user_port);
  __u16 port = redirect_port(jail.watch, rec.protocol);
  bool v4_mapped = rec.orig_ip6[0] == 0 && rec.orig_ip6[1] == 0 && rec.orig_ip6[2] == bpf_htonl(0xffff);
  __u32 loop_last = v4_mapped ? bpf_htonl(MV_LOOPBACK4) : bpf_htonl(1);
  __u32 loop_third = v4_mapped ? bpf_htonl(0xffff) : 0;
  bool already_there = rec.orig_ip6[0] == 0 && rec.orig_ip6[1] == 0 && rec.orig_ip6[2] == loop_third &&
                       rec.orig_ip6[3] == loop_last && rec.orig_port == port;
  if (port && !already_there) {
    ctx->user_ip6[0] = 0;
    ctx->user_ip6[1] = 0;
    ctx->user_ip6[2] = loop_third;
    ctx->user_ip6[3] = loop_last;
    ctx->user_port = bpf_htons(port);
    rec.new_port = port;
    rec.redirected = 1;
  }
  report(&jail, &rec);
  return 1;
}

SEC("cgroup/connect4")
int connect4(struct bpf_sock_addr *ctx) { return steer4(ctx, MV_HOOK_CONNECT4); }

SEC("cgroup/sendmsg4")
int sendmsg4(struct bpf_sock_addr *ctx) { return steer4(ctx, MV_HOOK_SENDMSG4); }

SEC("cgroup/connect6")
int connect6(struct bpf_sock_addr *ctx) { return steer6(ctx, MV_HOOK_CONNECT6); }

SEC("cgroup/sendmsg6")
int sendmsg6(struct bpf_sock_addr *ctx) { return steer6(ctx, MV_HOOK_SENDMSG6); }
