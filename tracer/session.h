#pragma once
// One jail's recording: the events the reader threads dispatched to it, its cgroup hooks,
// and, once finished, its final counters. Internal to the tracer; callers hold it opaquely.
#include <bpf/libbpf.h>

#include <array>
#include <cstdint>
#include <mutex>
#include <vector>

#include "tracer/trace_records.h"
#include "tracer/tracer.h"

namespace modelvet::tracer {

class Session {
 public:
  // Records kept per ring beyond which a session only counts (a flood must not exhaust memory).
  static constexpr std::array<uint64_t, MV_RING_COUNT> kMaxKept = {200000, 100000};

  Session(uint64_t cgroup_id, RedirectTarget redirect) : cgroup_id_(cgroup_id), redirect_(redirect) {}
  ~Session() { detach_hooks(); }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  uint64_t cgroup_id() const { return cgroup_id_; }
  const RedirectTarget& redirect() const { return redirect_; }

  void add(Event e, int ring) {
    std::lock_guard lock(mu_);
    if (finished_) return;
    if (kept_[ring] >= kMaxKept[ring]) {
      ++capped_[ring];
      return;
    }
    ++kept_[ring];
    raw_.push_back(std::move(e));
  }

  // True (and counted) when the ring's share of the session is full: the record is not kept.
  bool count_if_capped(int ring) {
    std::lock_guard lock(mu_);
    if (finished_ || kept_[ring] < kMaxKept[ring]) return false;
    ++capped_[ring];
    return true;
  }

  void add_hook(bpf_link* link) { links_.push_back(link); }
  void detach_hooks() {
    for (bpf_link* l : links_) bpf_link__destroy(l);
    links_.clear();
  }

  // Counters: from the kernel's per-jail entry (emitted/dropped) and our own cap.
  Stats make_stats(const mv_watch& kernel, uint64_t events) const {
    std::lock_guard lock(mu_);
    Stats s;
    s.events = events;
    static constexpr const char* names[] = {"high", "bulk"};
    s.per_buffer = nlohmann::json::object();
    for (int r = 0; r < MV_RING_COUNT; ++r) {
      s.dropped += kernel.dropped[r] + capped_[r];
      s.per_buffer[names[r]] = {{"emitted", kernel.emitted[r]}, {"dropped", kernel.dropped[r]},
                                {"capped", capped_[r]}, {"kept", kept_[r]}};
    }
    return s;
  }

  // Ends the session: no more events are accepted; returns those gathered.
  Events close(const mv_watch& final_counters) {
    std::lock_guard lock(mu_);
    finished_ = true;
    final_counters_ = final_counters;
    return std::move(raw_);
  }
  bool finished() const {
    std::lock_guard lock(mu_);
    return finished_;
  }
  void set_final_stats(Stats s) {
    std::lock_guard lock(mu_);
    final_stats_ = std::move(s);
  }
  Stats final_stats() const {
    std::lock_guard lock(mu_);
    return final_stats_;
  }

 private:
  const uint64_t cgroup_id_;
  const RedirectTarget redirect_;
  std::vector<bpf_link*> links_;
  mutable std::mutex mu_;
  Events raw_;
  std::array<uint64_t, MV_RING_COUNT> kept_{}, capped_{};
  bool finished_ = false;
  mv_watch final_counters_{};
  Stats final_stats_;
};

}  // namespace modelvet::tracer
