// The eBPF backend: loads the linked object (syscalls + process + sock_addr programs, one
// skeleton), attaches the host-wide tracepoints once, and runs one reader thread per ring so
// the high-value ring is never stuck behind a flood in the bulk ring. Records are dispatched
// by cgroup id to the session of their jail.
#include "tracer/tracer.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdarg>
#include <cstddef>
#include <cstring>
#include <shared_mutex>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "tracer.skel.h"
#include "tracer/cgroup_info.h"
#include "tracer/event_linker.h"
#include "tracer/record_decoder.h"
#include "tracer/session.h"

namespace modelvet::tracer {
namespace {

// libbpf's warnings, kept so that a failed start can say why.
std::mutex g_libbpf_log_mu;
std::string g_libbpf_log;

int capture_libbpf_log(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  va_list copy;
  va_copy(copy, args);
  int n = vsnprintf(nullptr, 0, format, copy);
  va_end(copy);
  if (n <= 0) return n;
  std::string text(static_cast<size_t>(n) + 1, '\0');
  vsnprintf(text.data(), text.size(), format, args);
  text.pop_back();
  std::lock_guard lock(g_libbpf_log_mu);
  g_libbpf_log += text;
  // The verifier log is long; its tail says what went wrong.
  if (g_libbpf_log.size() > 4000) g_libbpf_log.erase(0, g_libbpf_log.size() - 4000);
  return n;
}

std::string take_libbpf_log() {
  std::lock_guard lock(g_libbpf_log_mu);
  std::string s;
  s.swap(g_libbpf_log);
  return s;
}

// Syscall tracepoints need tracefs; raw tracepoints do not, but tp/* users and `doctor` do.
void ensure_tracefs() {
  struct stat st;
  if (stat("/sys/kernel/tracing/events", &st) == 0) return;
  mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, nullptr);
}

}  // namespace

struct Tracer::Impl {
  struct Reader {
    Impl* impl = nullptr;
    int ring = 0;
    ring_buffer* rb = nullptr;
    std::thread thread;
    std::atomic<uint64_t> passes{0};
  };

  tracer_bpf* skel = nullptr;
  std::vector<bpf_link*> host_links;
  std::vector<std::string> hooks;
  Reader readers[MV_RING_COUNT];
  std::atomic<bool> stopping{false};

  mutable std::shared_mutex sessions_mu;
  std::unordered_map<uint64_t, std::shared_ptr<Session>> sessions;
  std::mutex watch_mu;  // serializes watch/finish (the watched map, jail_level)

  ~Impl() {
    stopping = true;
    for (auto& r : readers) {
      if (r.thread.joinable()) r.thread.join();
      ring_buffer__free(r.rb);
    }
    for (bpf_link* l : host_links) bpf_link__destroy(l);
    tracer_bpf__destroy(skel);
  }

  static int on_record(void* ctx, void* data, size_t size) {
    auto* reader = static_cast<Reader*>(ctx);
    if (size < sizeof(mv_header)) return 0;
    uint64_t cgroup_id;
    memcpy(&cgroup_id, static_cast<const char*>(data) + offsetof(mv_header, cgroup_id), sizeof(cgroup_id));
    std::shared_ptr<Session> session;
    {
      std::shared_lock lock(reader->impl->sessions_mu);
      auto it = reader->impl->sessions.find(cgroup_id);
      if (it == reader->impl->sessions.end()) return 0;
      session = it->second;
    }
    // Past the session's cap a record is only counted: decoding it would be wasted work
    // competing with the traced program for the CPU.
    if (session->count_if_capped(reader->ring)) return 0;
    auto decoded = decode_record(data, size);
    if (!decoded) return 0;
    session->add(std::move(*decoded), reader->ring);
    return 0;
  }

  void read_loop(Reader* r) {
    while (!stopping) {
      ring_buffer__poll(r->rb, 20);
      // Also reads records whose producer skipped the wakeup (adaptive notification).
      ring_buffer__consume(r->rb);
      r->passes.fetch_add(1);
    }
  }

  // Returns once every record committed before the call has been dispatched.
  void drain() {
    uint64_t targets[MV_RING_COUNT];
    for (int i = 0; i < MV_RING_COUNT; ++i) targets[i] = readers[i].passes.load() + 2;
    for (int i = 0; i < MV_RING_COUNT; ++i)
      while (!stopping && readers[i].passes.load() < targets[i]) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }

  bool attach_host(bpf_program* prog, const char* name, std::string* error) {
    bpf_link* link = bpf_program__attach(prog);
    if (!link) {
      *error = fmt::format("attach {}: {} {}", name, strerror(errno), take_libbpf_log());
      return false;
    }
    host_links.push_back(link);
    hooks.push_back(name);
    return true;
  }

  // The repeat counts of jail `id` (keys carry its cgroup id), taken out of the map or not.
  std::vector<std::pair<mv_fold_key, uint64_t>> fold_counts(uint64_t id, bool take) const {
    std::vector<std::pair<mv_fold_key, uint64_t>> counts;
    int fd = bpf_map__fd(skel->maps.folds);
    mv_fold_key key{}, next{};
    const mv_fold_key* prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
      key = next;
      prev = &key;
      uint64_t n = 0;
      if (key.cgroup_id == id && bpf_map_lookup_elem(fd, &key, &n) == 0) counts.emplace_back(key, n);
    }
    if (take)
      for (const auto& kv : counts) bpf_map_delete_elem(fd, &kv.first);
    return counts;
  }

  static uint64_t total(const std::vector<std::pair<mv_fold_key, uint64_t>>& counts) {
    uint64_t n = 0;
    for (const auto& kv : counts) n += kv.second;
    return n;
  }

  mv_watch kernel_counters(uint64_t id) const {
    mv_watch w{};
    bpf_map__lookup_elem(skel->maps.watched, &id, sizeof(id), &w, sizeof(w), 0);
    return w;
  }
};

Tracer::Tracer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tracer::~Tracer() = default;

std::unique_ptr<Tracer> Tracer::start(std::string* error) {
  std::string ignored;
  if (!error) error = &ignored;
  libbpf_set_print(capture_libbpf_log);
  ensure_tracefs();
  auto impl = std::make_unique<Impl>();
  impl->skel = tracer_bpf__open();
  if (!impl->skel) {
    *error = fmt::format("open BPF object: {} {}", strerror(errno), take_libbpf_log());
    return nullptr;
  }
  if (int err = tracer_bpf__load(impl->skel)) {
    *error = fmt::format("load BPF programs: {} {}", strerror(-err), take_libbpf_log());
    return nullptr;
  }
  auto& p = impl->skel->progs;
  if (!impl->attach_host(p.on_sys_enter, "tp_btf/sys_enter", error) ||
      !impl->attach_host(p.on_sys_exit, "tp_btf/sys_exit", error) ||
      !impl->attach_host(p.on_fork, "tp_btf/sched_process_fork", error) ||
      !impl->attach_host(p.on_exec, "raw_tp/sched_process_exec", error) ||
      !impl->attach_host(p.on_exit, "raw_tp/sched_process_exit", error))
    return nullptr;
  for (const char* h : {"cgroup/connect4", "cgroup/connect6", "cgroup/sendmsg4", "cgroup/sendmsg6"})
    impl->hooks.push_back(fmt::format("{} (per jail)", h));

  bpf_map* rings[MV_RING_COUNT] = {impl->skel->maps.rb_high, impl->skel->maps.rb_bulk};
  for (int i = 0; i < MV_RING_COUNT; ++i) {
    auto& r = impl->readers[i];
    r.impl = impl.get();
    r.ring = i;
    r.rb = ring_buffer__new(bpf_map__fd(rings[i]), &Impl::on_record, &r, nullptr);
    if (!r.rb) {
      *error = fmt::format("ring buffer: {}", strerror(errno));
      return nullptr;
    }
  }
  for (auto& r : impl->readers) r.thread = std::thread([raw = impl.get(), rp = &r] { raw->read_loop(rp); });
  return std::unique_ptr<Tracer>(new Tracer(std::move(impl)));
}

std::vector<std::string> Tracer::active_hooks() const { return impl_->hooks; }

std::shared_ptr<Session> Tracer::watch(int cgroup_dir_fd, const RedirectTarget& redirect, std::string* error) {
  std::string ignored;
  if (!error) error = &ignored;
  uint64_t id = cgroup_id_of(cgroup_dir_fd, error);
  if (!id) return nullptr;
  std::lock_guard guard(impl_->watch_mu);
  {
    std::shared_lock lock(impl_->sessions_mu);
    if (impl_->sessions.count(id)) {
      *error = fmt::format("cgroup {} is already watched", id);
      return nullptr;
    }
  }
  auto session = std::make_shared<Session>(id, redirect);
  // Dispatch first, then let the kernel record: nothing of the jail can arrive unclaimed.
  {
    std::unique_lock lock(impl_->sessions_mu);
    impl_->sessions[id] = session;
  }
  auto fail = [&](std::string why) -> std::shared_ptr<Session> {
    bpf_map__delete_elem(impl_->skel->maps.watched, &id, sizeof(id), 0);
    session->detach_hooks();
    std::unique_lock lock(impl_->sessions_mu);
    impl_->sessions.erase(id);
    *error = std::move(why);
    return nullptr;
  };
  mv_watch w{};
  w.tcp_port = redirect.tcp_port;
  w.udp_port = redirect.udp_port;
  if (bpf_map__update_elem(impl_->skel->maps.watched, &id, sizeof(id), &w, sizeof(w), BPF_NOEXIST) != 0)
    return fail(fmt::format("watch cgroup {}: {}", id, strerror(errno)));
  // Sub-cgroups a jail creates stay attributed to it through their ancestor at the jails' depth.
  int level = cgroup_level_of(cgroup_dir_fd);
  if (level > 0 && impl_->skel->bss->jail_level == 0) impl_->skel->bss->jail_level = static_cast<uint32_t>(level);

  auto& p = impl_->skel->progs;
  for (bpf_program* prog : {p.connect4, p.connect6, p.sendmsg4, p.sendmsg6}) {
    bpf_link* link = bpf_program__attach_cgroup(prog, cgroup_dir_fd);
    if (!link) return fail(fmt::format("attach {} to cgroup: {} {}", bpf_program__name(prog), strerror(errno), take_libbpf_log()));
    session->add_hook(link);
  }
  return session;
}

Events Tracer::finish(Session& s) {
  std::lock_guard guard(impl_->watch_mu);
  if (s.finished()) return {};
  uint64_t id = s.cgroup_id();
  // Stop recording atomically with reading the final counters, then collect what is in flight.
  mv_watch final_counters{};
  int fd = bpf_map__fd(impl_->skel->maps.watched);
  if (bpf_map_lookup_and_delete_elem(fd, &id, &final_counters) != 0) final_counters = impl_->kernel_counters(id);
  s.detach_hooks();
  impl_->drain();
  {
    std::unique_lock lock(impl_->sessions_mu);
    impl_->sessions.erase(id);
    if (impl_->sessions.empty()) impl_->skel->bss->jail_level = 0;
  }
  auto folds = impl_->fold_counts(id, true);
  Events events = link_events(s.close(folds));
  s.set_final_stats(s.make_stats(final_counters, Impl::total(folds), events.size()));
  return events;
}

Stats Tracer::stats(const Session& s) const {
  if (s.finished()) return s.final_stats();
  return s.make_stats(impl_->kernel_counters(s.cgroup_id()), Impl::total(impl_->fold_counts(s.cgroup_id(), false)), 0);
}

}  // namespace modelvet::tracer
