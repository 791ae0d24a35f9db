#include "tracer/record_decoder.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>

#include <array>
#include <cstring>
#include <memory>
#include <utility>

#include <fmt/format.h>

#include "trace/bytes_text.h"
#include "tracer/trace_records.h"

namespace modelvet::tracer {
namespace {

using nlohmann::json;

// Bytes from the traced process: carried as bytes text (trace/bytes_text.h), exact and valid UTF-8.
std::string bounded_string(const char* s, size_t cap) { return escape_bytes(std::string_view(s, strnlen(s, cap))); }

std::string string_slot(const mv_syscall_rec& r, int slot) {
  if (r.len[slot] <= 0) return "";
  return bounded_string(r.str[slot], std::min<size_t>(r.len[slot], MV_PATH_LEN));
}

json args_array(const __u64 (&args)[6]) {
  json a = json::array();
  for (uint64_t v : args) a.push_back(v);
  return a;
}

const char* proto_of_socket_type(uint32_t type) {
  switch (type) {
    case SOCK_STREAM: return "tcp";
    case SOCK_DGRAM: return "udp";
    case SOCK_RAW: return "raw";
    case SOCK_SEQPACKET: return "seqpacket";
    default: return nullptr;
  }
}

std::string family_name(int family) {
  switch (family) {
    case AF_INET: return "inet";
    case AF_INET6: return "inet6";
    case AF_UNIX: return "unix";
    case AF_NETLINK: return "netlink";
    case AF_PACKET: return "packet";
    default: return fmt::format("af_{}", family);
  }
}

std::string ipv4_string(uint32_t net_order) {
  char buf[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &net_order, buf, sizeof(buf));
  return buf;
}

std::string ipv6_string(const void* addr16) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(AF_INET6, addr16, buf, sizeof(buf));
  return buf;
}

// family/addr/port (inet) or path (unix) from the raw sockaddr bytes.
void add_sockaddr(json& d, const char* raw, size_t len) {
  if (len < sizeof(sa_family_t)) return;
  sa_family_t family;
  memcpy(&family, raw, sizeof(family));
  d["family"] = family_name(family);
  if (family == AF_INET && len >= sizeof(sockaddr_in)) {
    sockaddr_in in;
    memcpy(&in, raw, sizeof(in));
    d["addr"] = ipv4_string(in.sin_addr.s_addr);
    d["port"] = ntohs(in.sin_port);
  } else if (family == AF_INET6 && len >= sizeof(sockaddr_in6)) {
    sockaddr_in6 in6;
    memcpy(&in6, raw, sizeof(in6));
    d["addr"] = ipv6_string(&in6.sin6_addr);
    d["port"] = ntohs(in6.sin6_port);
  } else if (family == AF_UNIX) {
    size_t off = offsetof(sockaddr_un, sun_path);
    if (len > off) {
      const char* path = raw + off;
      size_t n = len - off;
      // abstract sockets start with NUL; shown as "@name" like ss(8)
      d["path"] = path[0] == '\0' ? "@" + escape_bytes(std::string_view(path + 1, strnlen(path + 1, n - 1)))
                                  : escape_bytes(std::string_view(path, strnlen(path, n)));
    }
  }
}

Event base_event(const mv_header& h, const char* kind) {
  Event e;
  e.t_ns = h.t_ns;
  e.source = kSourceKernel;
  e.kind = kind;
  e.pid = static_cast<int>(h.pid);
  if (h.tid != h.pid) e.data["tid"] = h.tid;
  return e;
}

Event decode_exec(const mv_exec_rec& r) {
  Event e = base_event(r.h, "exec");
  auto& d = e.data;
  d["filename"] = bounded_string(r.filename, MV_PATH_LEN);
  // argv arrives as the kernel's NUL-separated block; kept: MV_MAX_ARGS x MV_ARG_LEN bytes.
  json argv = json::array();
  bool truncated = r.truncated != 0;
  size_t len = std::min<size_t>(r.args_len, MV_ARGS_LEN);
  if (r.slotted) {
    for (size_t pos = 0; pos + MV_ARG_LEN <= len; pos += MV_ARG_LEN) argv.push_back(bounded_string(r.args + pos, MV_ARG_LEN));
    len = 0;
  }
  for (size_t pos = 0; pos < len;) {
    size_t n = strnlen(r.args + pos, len - pos);
    if (argv.size() == MV_MAX_ARGS) {
      truncated = true;
      break;
    }
    if (n > MV_ARG_LEN) truncated = true;
    argv.push_back(escape_bytes(std::string_view(r.args + pos, std::min<size_t>(n, MV_ARG_LEN))));
    pos += n + 1;
  }
  d["argv"] = std::move(argv);
  d["truncated"] = truncated;
  d["ppid"] = r.h.ppid;
  d["comm"] = bounded_string(r.h.comm, MV_COMM_LEN);
  d["ret"] = r.ret;
  if (r.dirfd != AT_FDCWD) d["dirfd"] = r.dirfd;
  return e;
}

Event decode_proc(const mv_proc_rec& r) {
  if (r.h.type == MV_REC_FORK) {
    Event e = base_event(r.h, "fork");
    e.data["child_pid"] = r.child_pid;
    e.data["ppid"] = r.h.ppid;
    return e;
  }
  Event e = base_event(r.h, "exit");
  e.data["code"] = (r.exit_code >> 8) & 0xff;
  e.data["signal"] = r.exit_code & 0x7f;
  return e;
}

Event decode_redirect(const mv_redirect_rec& r) {
  Event e = base_event(r.h, kinds::kNetRedirect);
  auto& d = e.data;
  static constexpr std::array<const char*, 5> hooks = {"?", "connect4", "connect6", "sendmsg4", "sendmsg6"};
  d["hook"] = hooks[r.hook < hooks.size() ? r.hook : 0];
  d["family"] = family_name(static_cast<int>(r.family));
  d["orig_addr"] = r.family == AF_INET ? ipv4_string(r.orig_ip4) : ipv6_string(r.orig_ip6);
  d["orig_port"] = r.orig_port;
  d["proto"] = r.protocol == IPPROTO_TCP ? "tcp" : r.protocol == IPPROTO_UDP ? "udp" : fmt::format("ip_{}", r.protocol);
  d["redirected"] = r.redirected != 0;
  if (r.redirected) d["to_port"] = r.new_port;
  if (r.sock_cookie) d["sock"] = r.sock_cookie;
  if (r.src_port) d["src_port"] = r.src_port;
  d["comm"] = bounded_string(r.h.comm, MV_COMM_LEN);
  return e;
}

// A syscall attempt with its raw arguments: the shape of "denied" and "syscall_attempt".
void add_raw_call(json& d, const mv_syscall_rec& r) {
  d["syscall"] = syscall_name(r.nr);
  d["nr"] = r.nr;
  d["args"] = args_array(r.args);
  d["ret"] = r.ret;
}

Event decode_syscall(const mv_syscall_rec& r) {
  const auto& a = r.args;
  auto make = [&](const char* kind) {
    Event e = base_event(r.h, kind);
    e.data["syscall"] = syscall_name(r.nr);
    e.data["ret"] = r.ret;
    return e;
  };
  auto fd_arg = [](uint64_t v) { return static_cast<int>(static_cast<int32_t>(v)); };
  switch (r.nr) {
    case SYS_open: case SYS_openat: case SYS_openat2: case SYS_creat: {
      Event e = make("open");
      e.data["path"] = string_slot(r, 0);
      e.data["flags"] = r.aux;
      e.data["flags_str"] = open_flags_string(r.aux);
      if ((r.nr == SYS_openat || r.nr == SYS_openat2) && fd_arg(a[0]) != AT_FDCWD) e.data["dirfd"] = fd_arg(a[0]);
      return e;
    }
    case SYS_unlink: case SYS_unlinkat: case SYS_rmdir: {
      Event e = make("unlink");
      e.data["path"] = string_slot(r, 0);
      if (r.nr == SYS_rmdir || (r.nr == SYS_unlinkat && (a[2] & AT_REMOVEDIR))) e.data["dir"] = true;
      return e;
    }
    case SYS_rename: case SYS_renameat: case SYS_renameat2: case SYS_link: case SYS_linkat: case SYS_symlink:
    case SYS_symlinkat: {
      bool is_rename = r.nr == SYS_rename || r.nr == SYS_renameat || r.nr == SYS_renameat2;
      Event e = make(is_rename ? "rename" : "link");
      e.data["path"] = string_slot(r, 0);
      e.data["new_path"] = string_slot(r, 1);
      return e;
    }
    case SYS_mkdir: case SYS_mkdirat: {
      Event e = make("mkdir");
      e.data["path"] = string_slot(r, 0);
      e.data["mode"] = r.nr == SYS_mkdir ? a[1] : a[2];
      return e;
    }
    case SYS_chmod: case SYS_fchmodat: case 452 /* fchmodat2 */: case SYS_fchmod: {
      Event e = make("chmod");
      if (r.nr == SYS_fchmod) e.data["fd"] = fd_arg(a[0]);
      else e.data["path"] = string_slot(r, 0);
      e.data["mode"] = r.nr == SYS_chmod || r.nr == SYS_fchmod ? a[1] : a[2];
      return e;
    }
    case SYS_write: case SYS_pwrite64: case SYS_writev: case SYS_pwritev: case SYS_pwritev2: {
      Event e = make("write");
      e.data["fd"] = fd_arg(a[0]);
      e.data["bytes"] = r.ret > 0 ? r.ret : 0;
      return e;
    }
    case SYS_close: {
      Event e = base_event(r.h, "_close");
      e.data["fd"] = fd_arg(a[0]);
      return e;
    }
    case SYS_dup2: case SYS_dup3: {
      Event e = base_event(r.h, "_dup");
      e.data["fd"] = fd_arg(a[0]);
      e.data["new_fd"] = fd_arg(a[1]);
      return e;
    }
    case SYS_mmap: case SYS_mprotect: {
      Event e = make("mmap_exec");
      e.data["fd"] = r.nr == SYS_mmap && !(a[3] & MAP_ANONYMOUS) ? fd_arg(a[4]) : -1;
      e.data["prot"] = a[2];
      e.data["len"] = a[1];
      if (r.nr == SYS_mmap && (a[3] & MAP_ANONYMOUS)) e.data["anonymous"] = true;
      return e;
    }
    case SYS_memfd_create: {
      Event e = make("memfd_create");
      e.data["name"] = string_slot(r, 0);
      e.data["flags"] = a[1];
      return e;
    }
    case SYS_socket: {
      Event e = make("socket");
      e.data["family"] = family_name(static_cast<int>(a[0]));
      uint32_t type = a[1] & 0xf;  // without SOCK_NONBLOCK / SOCK_CLOEXEC
      if (const char* p = proto_of_socket_type(type)) e.data["type"] = p;
      e.data["protocol"] = a[2];
      return e;
    }
    case SYS_connect: case SYS_bind: case SYS_sendto: case SYS_sendmsg: case SYS_listen: {
      const char* kind = r.nr == SYS_connect ? "connect" : r.nr == SYS_bind ? "bind" : r.nr == SYS_listen ? "listen" : "sendto";
      Event e = make(kind);
      e.data["fd"] = fd_arg(a[0]);
      if (r.len[1] > 0) add_sockaddr(e.data, r.str[1], std::min<size_t>(r.len[1], MV_PATH_LEN));
      std::string family = e.data.value("family", "");
      const char* proto = proto_of_socket_type(r.aux);
      if (proto && (family == "inet" || family == "inet6" || family.empty())) e.data["proto"] = proto;
      if (r.nr == SYS_sendto) e.data["bytes"] = r.ret > 0 ? r.ret : 0;
      if (r.nr == SYS_listen) e.data["backlog"] = a[1];
      return e;
    }
    case SYS_ptrace: {
      Event e = make("ptrace");
      e.data["request"] = a[0];
      e.data["target_pid"] = fd_arg(a[1]);
      return e;
    }
    case SYS_kill: case SYS_tkill: case SYS_tgkill: {
      Event e = make("kill");
      e.data["target_pid"] = fd_arg(a[0]);
      e.data["sig"] = r.nr == SYS_tgkill ? a[2] : a[1];
      return e;
    }
    default: {
      Event e = base_event(r.h, "syscall_attempt");
      add_raw_call(e.data, r);
      if (r.len[0] > 0) e.data["path"] = string_slot(r, 0);
      if (r.len[1] > 0) e.data[r.nr == SYS_mount ? "mount_source" : "path2"] = string_slot(r, 1);
      return e;
    }
  }
}

}  // namespace

std::string syscall_name(uint64_t nr) {
  char* name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_X86_64, static_cast<int>(nr));
  if (!name) return nr == 452 ? "fchmodat2" : fmt::format("syscall_{}", nr);
  std::string s(name);
  free(name);
  return s;
}

std::string open_flags_string(uint64_t flags) {
  static constexpr std::pair<uint64_t, const char*> names[] = {
      {O_CREAT, "O_CREAT"},       {O_EXCL, "O_EXCL"},         {O_NOCTTY, "O_NOCTTY"},   {O_TRUNC, "O_TRUNC"},
      {O_APPEND, "O_APPEND"},     {O_NONBLOCK, "O_NONBLOCK"}, {O_DIRECT, "O_DIRECT"},   {O_DIRECTORY, "O_DIRECTORY"},
      {O_NOFOLLOW, "O_NOFOLLOW"}, {O_NOATIME, "O_NOATIME"},   {O_CLOEXEC, "O_CLOEXEC"}, {O_PATH, "O_PATH"},
  };
  std::string out;
  switch (flags & O_ACCMODE) {
    case O_WRONLY: out = "O_WRONLY"; break;
    case O_RDWR: out = "O_RDWR"; break;
    default: out = "O_RDONLY"; break;
  }
  for (const auto& [bit, name] : names)
    if (flags & bit) out += fmt::format("|{}", name);
  if ((flags & O_TMPFILE) == O_TMPFILE) out += "|O_TMPFILE";
  if ((flags & O_SYNC) == O_SYNC) out += "|O_SYNC";
  else if (flags & O_DSYNC) out += "|O_DSYNC";
  return out;
}

std::optional<DecodedRecord> decode_record(const void* data, size_t size) {
  if (size < sizeof(mv_header)) return std::nullopt;
  mv_header h;
  memcpy(&h, data, sizeof(h));
  DecodedRecord out;
  out.cgroup_id = h.cgroup_id;
  // Records are written short (only the filled bytes): copy into a zeroed full-size struct.
  auto read_as = [&](auto& rec) {
    memset(&rec, 0, sizeof(rec));
    memcpy(&rec, data, std::min(size, sizeof(rec)));
  };
  switch (h.type) {
    case MV_REC_EXEC: {
      auto rec = std::make_unique<mv_exec_rec>();
      read_as(*rec);
      out.event = decode_exec(*rec);
      return out;
    }
    case MV_REC_FORK: case MV_REC_EXIT: {
      mv_proc_rec rec;
      read_as(rec);
      out.event = decode_proc(rec);
      return out;
    }
    case MV_REC_NET_REDIRECT: {
      mv_redirect_rec rec;
      read_as(rec);
      out.event = decode_redirect(rec);
      return out;
    }
    case MV_REC_SYSCALL: case MV_REC_DENIED: {
      auto rec = std::make_unique<mv_syscall_rec>();
      read_as(*rec);
      if (h.type == MV_REC_SYSCALL) {
        out.event = decode_syscall(*rec);
        if (rec->path_hash && out.event.kind == "open")
          out.fold_key = mv_fold_key{h.cgroup_id, rec->path_hash, h.pid, rec->nr, rec->aux, rec->ret < 0 ? static_cast<int32_t>(rec->ret) : 0};
        else
          out.path_hash = rec->path_hash;
      } else {
        out.event = base_event(rec->h, "denied");
        add_raw_call(out.event.data, *rec);
      }
      return out;
    }
    default:
      return std::nullopt;
  }
}

}  // namespace modelvet::tracer
